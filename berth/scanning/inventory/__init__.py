"""What an image contains: the packages recorded in the files of its layers."""
