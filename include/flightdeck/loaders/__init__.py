"""Destination writers: staging tables, partition replace, dimensions, rejections."""
