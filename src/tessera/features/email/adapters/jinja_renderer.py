from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jinja2

from tessera.features.email.domain.errors import MissingTemplateVariable, UnknownTemplate
from tessera.features.email.domain.message import RenderedEmail


class JinjaTemplateRenderer:
    """Renders `templates/<name>.txt` and `<name>.html`; the subject is the text template's
    `{% block subject %}`, and both parts see it as `subject`.

    Files starting with `_` are layouts and macros, not templates. `app_name` is available to
    every template unless the context gives its own.
    """

    def __init__(self, *, app_name: str = "Tessera") -> None:
        self._env = jinja2.Environment(
            loader=jinja2.PackageLoader("tessera.features.email", "templates"),
            autoescape=jinja2.select_autoescape(
                enabled_extensions=("html",), default_for_string=False, default=False
            ),
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
            auto_reload=False,
        )
        self._env.globals["app_name"] = app_name
        self.templates = frozenset(_template_names(self._env.list_templates()))

    def render(self, template: str, context: Mapping[str, Any]) -> RenderedEmail:
        if template not in self.templates:
            raise UnknownTemplate(field="template")
        text = self._env.get_template(f"{template}.txt")
        html = self._env.get_template(f"{template}.html")
        try:
            subject_block = text.blocks["subject"](text.new_context(dict(context)))
            subject = " ".join("".join(subject_block).split())
            variables = {**context, "subject": subject}
            return RenderedEmail(subject, text.render(variables), html.render(variables))
        except jinja2.UndefinedError as exc:
            raise MissingTemplateVariable(f"{template}: {exc.message}", field="context") from exc


def _template_names(files: list[str]) -> set[str]:
    stems = {name.rsplit(".", 1)[0] for name in files if not name.startswith("_")}
    return {stem for stem in stems if f"{stem}.txt" in files and f"{stem}.html" in files}
