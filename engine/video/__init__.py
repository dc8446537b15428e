"""Video classification: the chapter's six ways, trained here on moving-digit clips, and real video files."""
