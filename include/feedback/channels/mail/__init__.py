"""E-mail intake: IMAP, Maildir and .eml folders read in bounded batches, each mail parsed into an item."""
