"""What every domain module shares and none owns: errors, roles, the write lock, the vocabulary, the audit writer."""
