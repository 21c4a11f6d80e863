# `make container-test`: docker/Dockerfile and docker/docker-compose.yml run
# for real under Debian's podman (rootful, runc, cgroupfs; settings in
# tests/container/containers.conf, passed through CONTAINERS_CONF). Base
# images cannot be pulled here: debian:bookworm and debian:bookworm-slim are
# made once with mmdebstrap and `podman import`, then kept, like the layer
# cache of the builds. See tests/container/. Included by the top-level
# Makefile.
#
# podman-compose runs the compose file with tests/container/compose.override.yml
# (db built from Debian's PostgreSQL); netavark, aardvark-dns and iptables give
# its network and service names.

CONTAINER_PKGS := podman runc conmon netavark aardvark-dns iptables mmdebstrap podman-compose tar

.PHONY: container-deps container-test

container-deps: | $(DEPS_FIRST)
	@sh scripts/install-deps.sh $(CONTAINER_PKGS)

container-test: deps container-deps
	CONTAINERS_CONF=$(CURDIR)/tests/container/containers.conf \
	    $(PYTHON) -m pytest -q -p no:cacheprovider -rs tests/container
