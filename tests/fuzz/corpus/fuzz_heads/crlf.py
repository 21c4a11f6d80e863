revision = 'c1'
down_revision = None
