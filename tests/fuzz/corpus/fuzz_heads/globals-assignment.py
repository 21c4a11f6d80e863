revision = "a"
globals()["revision"] = "b"
down_revision = None
