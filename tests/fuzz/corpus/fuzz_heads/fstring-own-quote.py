revision = "a"
down_revision = None
x = f"{d["k"]}"
