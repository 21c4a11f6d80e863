-- leading comment;
/* block /* nested; */ still; */
SELECT 1; -- trailing;
/* only a comment */
