revision = "1a2b"
down_revision = ""
depends_on = ""
branch_labels = None
