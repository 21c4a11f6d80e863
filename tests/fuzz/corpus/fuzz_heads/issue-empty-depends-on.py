revision = "2b3c"
down_revision = "1a2b"
depends_on = ""
