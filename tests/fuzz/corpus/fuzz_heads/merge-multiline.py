revision = "m1"
down_revision = ("a1",
    "b1",  # two parents
)
depends_on = ["x9"]
