"""Personal data: keys, encryption, masking and retention."""
