// Starts GraphiQL on this origin's /graphql (the page's CSP allows no other origin).
// The API key goes in GraphiQL's Headers tab, e.g. {"Authorization": "Bearer sk_test_local"}
// with make run's key; it stays in this tab's memory (shouldPersistHeaders: false), never in
// the URL or localStorage, and the page ships no key.
// ?query=... pre-fills the editor, as links from the docs do.
(function () {
  var params = new URLSearchParams(window.location.search);
  var fetcher = GraphiQL.createFetcher({ url: window.location.origin + "/graphql" });
  var root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(React.createElement(GraphiQL, {
    fetcher: fetcher,
    defaultQuery: params.get("query") || undefined,
    shouldPersistHeaders: false,
    defaultEditorToolsVisibility: "headers",
  }));
})();
