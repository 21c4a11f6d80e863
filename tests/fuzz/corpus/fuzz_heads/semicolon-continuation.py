revision = "a1"; down_revision = \
    None  # revision = "decoy"
x = f"{1} revision = 'decoy'"
