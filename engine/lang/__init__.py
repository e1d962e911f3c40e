"""The language of mappings and flows: expressions (JMESPath, sandboxed Jinja), functions, casts,
and the mapping compiler."""
