# -*- coding: utf-8 -*-
revision = u"\x61\u0062c"
down_revision = r"base"
