"""Validates every example in an OpenAPI 3.0 document against the schema beside it.

Request and response examples (`content.<type>.example`) are checked with the OpenAPI 3.0
schema dialect of openapi-schema-validator, with `#/components/schemas/...` references resolved
in the document. Usage: check_examples.py docs/openapi/openapi.yaml
"""

import sys

import yaml
from openapi_schema_validator import OAS30Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

URI = "urn:kubenova:openapi"


def media_types(operation):
    body = operation.get("requestBody", {})
    for name, media in body.get("content", {}).items():
        yield "request " + name, media
    for status, response in operation.get("responses", {}).items():
        for name, media in response.get("content", {}).items():
            yield "response " + status + " " + name, media


def main(path):
    with open(path, encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    registry = Registry().with_resource(URI, Resource.from_contents(doc, default_specification=DRAFT4))
    checked, failures = 0, []
    for route, item in doc.get("paths", {}).items():
        for method, operation in item.items():
            for where, media in media_types(operation):
                if "example" not in media:
                    continue
                # The schema where it stands, so `#/components/...` resolves in the document.
                schema = {"$ref": URI + "#/paths/" + route.replace("~", "~0").replace("/", "~1")
                          + "/" + method + "/" + pointer(where)}
                validator = OAS30Validator(schema, registry=registry)
                errors = sorted(validator.iter_errors(media["example"]), key=str)
                checked += 1
                for error in errors:
                    failures.append(f"{method.upper()} {route} {where}: {error.message} at "
                                    f"{'/'.join(str(p) for p in error.absolute_path)}")
    for failure in failures:
        print(failure, file=sys.stderr)
    if failures:
        sys.exit(f"{len(failures)} example(s) do not match their schema")
    if checked == 0:
        sys.exit("no examples found; is this the right document?")
    print(f"{checked} examples match their schemas")


def pointer(where):
    parts = where.split(" ")
    esc = lambda s: s.replace("~", "~0").replace("/", "~1")
    if parts[0] == "request":
        return "requestBody/content/" + esc(parts[1]) + "/schema"
    return "responses/" + esc(parts[1]) + "/content/" + esc(parts[2]) + "/schema"


if __name__ == "__main__":
    main(sys.argv[1])
