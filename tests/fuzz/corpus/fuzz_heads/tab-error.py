revision = "a"
down_revision = None
if x:
	pass
        y = 1
