revision = "3c4d"
down_revision = "2b3c"
if CONDITION:
    down_revision = (
        "2b3c",
        "9z9z",
    )
