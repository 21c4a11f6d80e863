from neutron.db.migration import cli

revision = "kilo_expand"
down_revision = "kilo"
branch_labels = (cli.EXPAND_BRANCH,)
