"""
revision = 'fake'
"""
revision = u"real"
down_revision = r'base'
