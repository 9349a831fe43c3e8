"""What a release holds and what it will cost, before anything is built.

`recipes` loads and checks a release recipe (the YAML files of `builder/recipes/`); `source_base` and `sources`
list the clean images a recipe selects (the sample photos, `sample_photos.yaml`, an image folder, the Hub, or the
study's selection in `builder.study`); `plan` expands a recipe into work items and shards and counts their cost;
`pins` pins every model to one commit before it loads; `wordnet` and `wordnet_hierarchy` regenerate the shipped
WordNet hierarchy.
"""
