ALTER TABLE proposals ADD COLUMN x int;
UPDATE proposals SET x = 1;
