"""Markdown for the event source's documentation page, from its DOCUMENTATION and EXAMPLES (hack/docs)."""
import ast
import sys

import yaml


def main(path):
    tree = ast.parse(open(path).read())
    values = {t.id: node.value.value for node in tree.body if isinstance(node, ast.Assign)
              for t in node.targets if isinstance(t, ast.Name) and t.id in ("DOCUMENTATION", "EXAMPLES")}
    doc = yaml.safe_load(values["DOCUMENTATION"])
    out = ["# gitops.core.k8s_drift (event source)", "", doc["short_description"], ""]
    out += ["- %s" % " ".join(line.split()) for line in doc["description"]] + ["", "## Options", "",
                                                                               "| option | type | default | description |",
                                                                               "| --- | --- | --- | --- |"]
    for name, spec in doc["options"].items():
        text = " ".join(spec["description"]) if isinstance(spec["description"], list) else spec["description"]
        default = spec.get("default", "required" if spec.get("required") else "")
        out.append("| `%s` | %s | %s | %s |" % (name, spec.get("type", ""), default, " ".join(text.split())))
    out += ["", "## Examples", "", "```yaml", values["EXAMPLES"].strip(), "```", ""]
    out += ["## Notes", ""] + ["- %s" % " ".join(n.split()) for n in doc.get("notes", [])]
    print("\n".join(out))


if __name__ == "__main__":
    main(sys.argv[1])
