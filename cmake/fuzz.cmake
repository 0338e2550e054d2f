# filled by the fuzz work
