revision = "md1"
down_revision = None


def upgrade(engine_name):
    globals()["upgrade_%s" % engine_name]()
