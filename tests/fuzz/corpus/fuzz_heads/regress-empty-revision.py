revision = ''
down_revision = None
