"""Rule packs: edit definitions and tables (data, under ``edits/``) and the check kinds that read them."""
