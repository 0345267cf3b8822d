// Starts Swagger UI on /openapi.json (same origin). validatorUrl: null keeps it from
// calling validator.swagger.io; "Try it out" sends requests to this origin only.
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
});
