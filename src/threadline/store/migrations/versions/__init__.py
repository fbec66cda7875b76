"""Named, ordered schema revisions (``0001_documents``, ``0002_knowledge_objects``, ...)."""
