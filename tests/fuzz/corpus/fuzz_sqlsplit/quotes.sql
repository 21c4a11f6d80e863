INSERT INTO t VALUES ('a;b', 'it''s', E'back\'slash;');
SELECT "semi;col" FROM t;
