"""The instruction text a chat model gets to write alt text for one image.

Shared by every prompt-driven backend. The wording follows WCAG guidance: say what the image
means in its place on the page, say what a linked image *does*, do not start with "image of",
do not repeat a caption the reader already hears. Changing the wording changes captions:
bump :data:`alttext.captioners.base.PROMPT_VERSION` with it.
"""

from __future__ import annotations

from alttext.captioners.base import CaptionRequest

SYSTEM_PROMPT = (
    "You write alt text for images on web pages, for people who use screen readers. "
    "Answer with the alt text only: no quotes, no preamble, no markdown."
)

#: Page text is quoted into the prompt; bound it so a long page cannot crowd out the task.
CONTEXT_LIMIT = 200

_DETAIL = {
    "low": "Write one short phrase or sentence that conveys what matters about the image.",
    "medium": "Write one or two sentences that convey what matters about the image.",
    "high": "Describe the image precisely, including any text it shows.",
}


def _quote(text: str | None) -> str | None:
    """Collapse whitespace, bound the length, and quote; ``None`` when nothing is left."""
    if text is None:
        return None
    flat = " ".join(text.split())
    if not flat:
        return None
    if len(flat) > CONTEXT_LIMIT:
        flat = flat[: CONTEXT_LIMIT - 1] + "\u2026"
    return '"' + flat.replace('"', "'") + '"'


def build_prompt(request: CaptionRequest) -> str:
    """The user instruction for ``request``: task, length, language, focus and page context."""
    context = request.context
    lines: list[str] = []
    control = context.control
    if control is not None:
        lines.append(
            f"This image is the only content of a {control}, so its alt text is the "
            f"{control}'s name: say what the {control} does or where it leads, "
            "not what the image looks like."
        )
        text = _quote(context.control_text)
        if text:
            lines.append(f"Other text inside the {control}: {text}.")
        href = _quote(context.control_href)
        if control == "link" and href:
            lines.append(f"The link goes to {href}.")
    else:
        lines.append(_DETAIL[request.detail])
    lines.append(
        f"Use at most {request.max_length} characters. "
        'Do not begin with "image of", "picture of" or "photo of".'
    )
    if request.language:
        lines.append(f"Write in the language with the BCP 47 tag {request.language}.")
    focus = _quote(request.focus)
    if focus:
        lines.append(f"Focus on {focus}.")
    title = _quote(context.page_title)
    if title:
        lines.append(f"The page is titled {title}.")
    heading = _quote(context.heading)
    if heading:
        lines.append(f"The image appears under the heading {heading}.")
    figcaption = _quote(context.figcaption)
    if figcaption:
        lines.append(
            f"The image has a visible caption that is read out too: {figcaption}. "
            "Do not repeat it; add what it leaves out."
        )
    return "\n".join(lines)
