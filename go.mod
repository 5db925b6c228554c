module lvsha

go 1.26
