revision = 'b'
down_revision = ''
