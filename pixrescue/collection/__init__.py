"""The collection side: fingerprints of images, a folder's SQLite catalogue,
distances and duplicate groups, nearest-neighbour search, and the folder
verbs (index, dupes, similar, moving copies aside) the API exposes."""
