# `make schema-file`: the sample app's migrations/schema.json made again by
# the CI recipe (scripts/schema-file.sh): a throwaway PostgreSQL migrated from
# scratch with flask db upgrade, then `migration-sentry schema`.
# `make schema-file-check`: the same, compared with the committed file
# (fails with a diff when they differ). Included by the top-level Makefile.

.PHONY: schema-file schema-file-check

schema-file: deps $(BIN)
	@sh scripts/schema-file.sh

schema-file-check: deps $(BIN)
	@sh scripts/schema-file.sh --check
