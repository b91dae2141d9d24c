"""Documented functions of JavaScript, TypeScript, Java, Go, Rust and C++ source text (pure),
found with tree-sitter: the seed miner's extraction for `source.language` other than Python.

Which functions are candidates, per language (the analogue of Python's top-level `def`s):
- javascript, typescript: top-level `function` declarations (exported or not) and
  `const f = (...) => ...` / `function` expressions, documented by a JSDoc `/** ... */` block;
- java: `static` methods of top-level classes, documented by a Javadoc `/** ... */` block;
- go: top-level `func` declarations (not methods), documented by the `//` comment lines just
  above them (Go doc comments);
- rust: top-level `fn` items, documented by `///` lines (or `/** */`), attributes in between;
- cpp: functions at file or namespace level (templates included, not class members),
  documented by Doxygen: `/** */`, `/*! */`, `///` or `//!`.
The comment must touch the function (no blank line between).

Each candidate then goes through the analogue of the Python filters, in this order:
`syntax_error` (tree-sitter found an error inside the function), `too_long`
(`mining.maxLines`), `short_docstring` (`mining.minDocstringChars`, comment markers removed),
`no_return` (no value returned: no `return <value>` outside nested functions; a `void` return
type, a Go function without results, a Rust `fn` without `-> T`), `no_arguments`,
`banned_api` (file system, network, processes, environment of the language: `BANNED_APIS`),
`todo_marker` (`mining.bannedWords`).

The seed text is the file's imports that the function uses (for C++, which cannot tell: the
file's `#include`s and `using`s, less the system headers of `SYSTEM_HEADERS`) followed by the
doc comment and the function.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tree_sitter import Node, Parser

    from codeinstruct.workers.spec import Mining

LANGUAGES = ("javascript", "typescript", "java", "go", "rust", "cpp")

# The file names a folder source keeps, per language.
SUFFIXES: dict[str, tuple[str, ...]] = {
    "python": (".py",),
    "javascript": (".js", ".mjs", ".cjs"),
    "typescript": (".ts", ".mts", ".cts"),
    "java": (".java",),
    "go": (".go",),
    "rust": (".rs",),
    "cpp": (".cpp", ".cc", ".cxx", ".hpp", ".hh", ".hxx", ".h"),
}

_NODE_SYSTEM = r"(?:node:)?(?:fs|fs/promises|child_process|net|http|https|http2|dgram|dns|tls|cluster|os|worker_threads|process|vm|v8|inspector)"
_JS_BANNED = (
    rf"\brequire\s*\(\s*['\"]{_NODE_SYSTEM}['\"]",
    rf"\bfrom\s+['\"]{_NODE_SYSTEM}['\"]",
    rf"\bimport\s*\(\s*['\"]{_NODE_SYSTEM}['\"]",
    r"\bprocess\.(?:exit|env|argv|stdin|stdout|stderr|kill|chdir|cwd)\b",
    r"\b(?:fetch|XMLHttpRequest|WebSocket|eval|Deno|Bun)\b",
    r"\b(?:document|window|localStorage)\.",
)
# Per language: patterns of the file system, network, process and environment APIs a seed must
# not use (found in the seed text: its imports and its code).
BANNED_APIS: dict[str, tuple[str, ...]] = {
    "javascript": _JS_BANNED,
    "typescript": _JS_BANNED,
    "java": (
        r"\bjava\.(?:io\.File|nio\.file|net)\b",
        r"\b(?:Runtime\.getRuntime|ProcessBuilder|ProcessHandle)\b",
        r"\bSystem\.(?:exit|getenv|getProperty|setProperty|in|load|loadLibrary)\b",
        r"\b(?:Files|Paths|Socket|ServerSocket|URL|HttpClient)\s*[.(]",
        r"\bnew\s+(?:File|FileReader|FileWriter|FileInputStream|FileOutputStream|RandomAccessFile|Socket|URL)\s*\(",
    ),
    "go": (
        r"\"(?:os|os/exec|os/signal|net|net/[\w/]+|syscall|io/ioutil|io/fs|unsafe|flag|plugin|path/filepath)\"",
        r"\b(?:os|exec|syscall|ioutil|unsafe|flag|http|net)\.[A-Z]\w*",
    ),
    "rust": (
        r"\bstd::(?:fs|net|process|env|os)\b",
        r"\b(?:unsafe|extern)\b",
        r"\b(?:Command|File|OpenOptions|TcpStream|TcpListener|UdpSocket)::\w+",
    ),
    "cpp": (
        r"\bstd::(?:filesystem|ifstream|ofstream|fstream|system|exit|quick_exit|getenv|remove|rename)\b",
        r"(?<![\w:.>])(?:system|popen|fork|execl|execlp|execle|execv|execvp|execve|socket|connect|exit|_exit|abort|getenv|fopen|freopen|remove|rename|unlink|kill|signal|dlopen)\s*\(",
        r"\basm\b|__asm__",
    ),
}


# C++ cannot tell which header a function uses: a seed gets the file's includes but these.
SYSTEM_HEADERS = re.compile(
    r"#\s*include\s*<(?:fstream|filesystem|unistd\.h|sys/[\w/]+\.h|netinet/[\w/]+\.h|"
    r"arpa/[\w/]+\.h|netdb\.h|dirent\.h|fcntl\.h|csignal|signal\.h|dlfcn\.h|thread)>"
)


@dataclass(frozen=True)
class Candidate:
    """A function found in a file, before the quality filters (`drop_reason` None: kept)."""

    name: str
    code: str
    imports: str
    docstring: str
    line: int
    drop_reason: str | None


@dataclass(frozen=True)
class _Found:
    """A documented function: the node holding its signature, the outermost node of its
    statement (what the comment precedes) and its doc comment nodes."""

    function: Node
    anchor: Node
    comments: list[Node]


@dataclass(frozen=True)
class _Grammar:
    parser: Callable[[], Parser]
    functions: Callable[[Node], Iterator[tuple[Node, Node]]]
    """(function node, anchor) of the candidate functions of a file."""
    is_doc: Callable[[str], bool]
    multi_line: bool
    """Whether consecutive line comments make one doc comment (Go, Rust, C++ `///`)."""
    imports: Callable[[Node], Iterator[tuple[str, set[str] | None]]]
    """(import statement, the names it binds or None when it is always kept)."""
    returns_value: Callable[[Node], bool]
    has_arguments: Callable[[Node], bool]
    nested: frozenset[str]
    """Node types that start a nested function (their returns are not the function's)."""


def extract_documented(text: str, language: str, mining: Mining) -> list[Candidate]:
    """The documented candidate functions of `text` with their drop reasons."""
    grammar = _grammar(language)
    source = text.encode("utf-8", "surrogatepass")
    tree = grammar.parser().parse(source)
    root = tree.root_node
    lines = text.splitlines()
    imports = list(grammar.imports(root))
    banned = [re.compile(p) for p in BANNED_APIS[language]]
    words = (
        re.compile(r"\b(" + "|".join(re.escape(w) for w in mining.banned_words) + r")\b", re.I)
        if mining.banned_words
        else None
    )
    found: list[Candidate] = []
    for function, anchor in grammar.functions(root):
        comments = _doc_comments(anchor, grammar)
        if not comments:
            continue
        name = _name(function)
        if not name:
            continue
        first = comments[0].start_point[0]
        code = textwrap.dedent("\n".join(lines[first : anchor.end_point[0] + 1])) + "\n"
        body_text = _text(anchor)
        needed = [
            statement
            for statement, names in imports
            if names is None or any(re.search(rf"\b{re.escape(n)}\b", body_text) for n in names)
        ]
        import_text = "\n".join(needed)
        docstring = _clean_comment("\n".join(_text(c) for c in comments))
        reason: str | None = None
        if anchor.has_error:
            reason = "syntax_error"
        elif anchor.end_point[0] - anchor.start_point[0] + 1 > mining.max_lines:
            reason = "too_long"
        elif len(docstring.strip()) < mining.min_docstring_chars:
            reason = "short_docstring"
        elif not grammar.returns_value(function):
            reason = "no_return"
        elif not grammar.has_arguments(function):
            reason = "no_arguments"
        elif any(p.search(import_text) or p.search(code) for p in banned):
            reason = "banned_api"
        elif words is not None and words.search(code):
            reason = "todo_marker"
        found.append(
            Candidate(name, code, import_text, docstring, function.start_point[0] + 1, reason)
        )
    return found


# ---- shared helpers ---------------------------------------------------------------------------


def _text(node: Node) -> str:
    return (node.text or b"").decode("utf-8", "surrogatepass")


def _name(function: Node) -> str:
    node = function.child_by_field_name("name")
    while node is not None and node.type not in _NAME_TYPES:
        node = node.child_by_field_name("declarator") or node.child_by_field_name("name")
    return _text(node) if node is not None else ""


_NAME_TYPES = {"identifier", "field_identifier", "qualified_identifier", "operator_name"}


def _doc_comments(anchor: Node, grammar: _Grammar) -> list[Node]:
    """The doc comment touching `anchor` (attributes in between skipped), oldest first: one
    block comment, or (`multi_line`) a run of consecutive line comments."""
    comments: list[Node] = []
    below = anchor
    node = anchor.prev_named_sibling
    while node is not None and node.type == "attribute_item":  # Rust: #[inline] etc.
        below, node = node, node.prev_named_sibling
    while node is not None and "comment" in node.type:
        text = _text(node)
        if _last_row(node) < below.start_point[0] - 1 or not grammar.is_doc(text):
            break
        is_line = text.startswith("//")
        if comments and not is_line:
            break
        comments.insert(0, node)
        if not (grammar.multi_line and is_line):
            break
        below, node = node, node.prev_named_sibling
    return comments


def _last_row(node: Node) -> int:
    """The last line of `node` (a Rust line comment ends at the start of the next line)."""
    row, column = node.end_point
    return row - 1 if column == 0 and row > node.start_point[0] else row


def _clean_comment(text: str) -> str:
    """The words of a doc comment without its markers (`/**`, `*/`, leading `*`, `///`, `//!`)."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        line = re.sub(r"^(?:/\*\*|/\*!|/\*|///|//!|//)", "", line)
        line = re.sub(r"\*/$", "", line).strip()
        line = re.sub(r"^\*+\s?", "", line)
        out.append(line)
    return "\n".join(out).strip()


def _walk_own(node: Node, nested: frozenset[str]) -> Iterator[Node]:
    """Descendants of `node` that are not inside a nested function or class."""
    stack = list(node.named_children)
    while stack:
        child = stack.pop()
        yield child
        if child.type not in nested:
            stack.extend(child.named_children)


def _returns_expression(body: Node | None, nested: frozenset[str]) -> bool:
    if body is None:
        return False
    return any(
        n.type == "return_statement"
        and any("comment" not in c.type for c in n.named_children)
        and not (len(n.named_children) == 1 and _text(n.named_children[0]) in ("null", "nullptr"))
        for n in _walk_own(body, nested)
    )


def _parameters(node: Node | None) -> list[Node]:
    return [c for c in (node.named_children if node else []) if "comment" not in c.type]


def _with_wrappers(root: Node, wrappers: dict[str, str]) -> Iterator[tuple[Node, Node]]:
    """(declaration, anchor) of the top-level children, unwrapping `export` statements and
    templates: the declaration is the wrapper's field (`""`: its last named child)."""
    for child in root.named_children:
        inner: Node | None = child
        while inner is not None and inner.type in wrappers:
            field = wrappers[inner.type]
            inner = (
                inner.child_by_field_name(field)
                if field
                else (inner.named_children[-1] if inner.named_children else None)
            )
        if inner is not None:
            yield inner, child


# ---- JavaScript / TypeScript ------------------------------------------------------------------

_JS_FUNCTIONS = {"function_declaration", "generator_function_declaration"}
_JS_EXPRESSIONS = {"arrow_function", "function_expression", "function", "generator_function"}
_JS_NESTED = frozenset(
    {*_JS_FUNCTIONS, *_JS_EXPRESSIONS, "method_definition", "class_declaration", "class"}
)


def _js_functions(root: Node) -> Iterator[tuple[Node, Node]]:
    for node, anchor in _with_wrappers(root, {"export_statement": "declaration"}):
        if node.type in _JS_FUNCTIONS:
            yield node, anchor
        elif node.type in ("lexical_declaration", "variable_declaration"):
            declarators = [c for c in node.named_children if c.type == "variable_declarator"]
            if len(declarators) != 1:
                continue
            value = declarators[0].child_by_field_name("value")
            if value is not None and value.type in _JS_EXPRESSIONS:
                yield _JsFunction(declarators[0], value), anchor  # type: ignore[misc]


class _JsFunction:
    """A `const name = (...) => ...` seen as a function node (name from the declarator)."""

    def __init__(self, declarator: Node, value: Node) -> None:
        self.declarator, self.value = declarator, value
        self.start_point = declarator.start_point

    def child_by_field_name(self, field: str) -> Node | None:
        if field == "name":
            return self.declarator.child_by_field_name("name")
        return self.value.child_by_field_name(field)

    @property
    def type(self) -> str:
        return self.value.type


def _js_returns(function: Node) -> bool:
    annotation = function.child_by_field_name("return_type")
    if annotation is not None and re.fullmatch(
        r":?\s*(?:void|never|undefined|Promise<void>)", _text(annotation).strip()
    ):
        return False
    body = function.child_by_field_name("body")
    if body is not None and body.type != "statement_block":  # `(a) => a + 1`
        return True
    return _returns_expression(body, _JS_NESTED)


def _js_arguments(function: Node) -> bool:
    parameters = function.child_by_field_name("parameters")
    if parameters is None:  # `x => x + 1`
        return function.child_by_field_name("parameter") is not None
    return bool(_parameters(parameters))


def _js_imports(root: Node) -> Iterator[tuple[str, set[str] | None]]:
    for child in root.named_children:
        if child.type == "import_statement":
            clause = next((c for c in child.named_children if c.type == "import_clause"), None)
            yield _text(child), _identifiers(clause) if clause is not None else None
        elif child.type in ("lexical_declaration", "variable_declaration") and re.search(
            r"\brequire\s*\(", _text(child)
        ):
            names: set[str] = set()
            for declarator in child.named_children:
                target = declarator.child_by_field_name("name")
                if target is not None:
                    names |= _identifiers(target)
            yield _text(child), names


def _identifiers(node: Node) -> set[str]:
    kinds = {"identifier", "shorthand_property_identifier_pattern", "type_identifier"}
    found = {_text(node)} if node.type in kinds else set()
    for child in node.named_children:
        found |= _identifiers(child)
    return found


# ---- Java ------------------------------------------------------------------------------------

_JAVA_NESTED = frozenset({"lambda_expression", "class_body", "class_declaration"})


def _java_functions(root: Node) -> Iterator[tuple[Node, Node]]:
    for node in root.named_children:
        if node.type != "class_declaration":
            continue
        body = node.child_by_field_name("body")
        for member in body.named_children if body is not None else []:
            if member.type != "method_declaration":
                continue
            modifiers = next((c for c in member.children if c.type == "modifiers"), None)
            if modifiers is not None and re.search(r"\bstatic\b", _text(modifiers)):
                yield member, member


def _java_returns(function: Node) -> bool:
    kind = function.child_by_field_name("type")
    if kind is None or kind.type == "void_type":
        return False
    return _returns_expression(function.child_by_field_name("body"), _JAVA_NESTED)


def _java_imports(root: Node) -> Iterator[tuple[str, set[str] | None]]:
    for child in root.named_children:
        if child.type == "import_declaration":
            text = _text(child)
            last = re.findall(r"\w+", text.removesuffix(";"))
            yield text, {last[-1]} if last and "*" not in text else None


# ---- Go --------------------------------------------------------------------------------------

_GO_NESTED = frozenset({"func_literal"})


def _go_functions(root: Node) -> Iterator[tuple[Node, Node]]:
    for node in root.named_children:
        if node.type == "function_declaration":
            yield node, node


def _go_returns(function: Node) -> bool:
    return function.child_by_field_name("result") is not None


def _go_arguments(function: Node) -> bool:
    return bool(_parameters(function.child_by_field_name("parameters")))


def _go_imports(root: Node) -> Iterator[tuple[str, set[str] | None]]:
    for child in root.named_children:
        if child.type != "import_declaration":
            continue
        specs = [n for n in _walk_own(child, frozenset()) if n.type == "import_spec"]
        for spec in specs:
            alias = spec.child_by_field_name("name")
            path = _text(spec.child_by_field_name("path") or spec).strip('"`')
            name = _text(alias) if alias is not None else path.rsplit("/", 1)[-1]
            yield f"import {_text(spec)}", None if name in ("_", ".") else {name}


# ---- Rust ------------------------------------------------------------------------------------

_RUST_NESTED = frozenset({"closure_expression", "function_item"})


def _rust_functions(root: Node) -> Iterator[tuple[Node, Node]]:
    for node in root.named_children:
        if node.type == "function_item":
            yield node, node


def _rust_returns(function: Node) -> bool:
    kind = function.child_by_field_name("return_type")
    return kind is not None and _text(kind).replace(" ", "") not in ("()", "!")


def _rust_imports(root: Node) -> Iterator[tuple[str, set[str] | None]]:
    for child in root.named_children:
        if child.type == "use_declaration":
            text = _text(child).removesuffix(";")
            names = set(re.findall(r"(\w+)\s*(?=[,}]|$)", text))
            names |= set(re.findall(r"\bas\s+(\w+)", text))
            yield _text(child), None if "*" in text else names - {"self"}


# ---- C++ -------------------------------------------------------------------------------------

_CPP_NESTED = frozenset({"lambda_expression", "class_specifier", "struct_specifier"})


def _cpp_functions(root: Node) -> Iterator[tuple[Node, Node]]:
    for node, anchor in _with_wrappers(root, {"template_declaration": ""}):
        if node.type == "function_definition":
            yield node, anchor
        elif node.type == "namespace_definition":
            body = node.child_by_field_name("body")
            if body is not None:
                yield from _cpp_functions(body)


def _cpp_declarator(function: Node) -> Node | None:
    node = function.child_by_field_name("declarator")
    while node is not None and node.type != "function_declarator":
        node = node.child_by_field_name("declarator")
    return node


def _cpp_name(function: Node) -> Node | None:
    declarator = _cpp_declarator(function)
    return declarator.child_by_field_name("declarator") if declarator is not None else None


def _cpp_returns(function: Node) -> bool:
    kind = function.child_by_field_name("type")
    pointer = function.child_by_field_name("declarator")
    is_void = kind is not None and _text(kind) == "void"
    if is_void and (pointer is None or pointer.type == "function_declarator"):
        return False
    return _returns_expression(function.child_by_field_name("body"), _CPP_NESTED)


def _cpp_arguments(function: Node) -> bool:
    declarator = _cpp_declarator(function)
    parameters = _parameters(
        declarator.child_by_field_name("parameters") if declarator is not None else None
    )
    return bool(parameters) and not (len(parameters) == 1 and _text(parameters[0]) == "void")


def _cpp_imports(root: Node) -> Iterator[tuple[str, set[str] | None]]:
    for child in root.named_children:
        kinds = ("preproc_include", "using_declaration", "alias_declaration")
        if child.type in kinds and not SYSTEM_HEADERS.match(_text(child)):
            yield _text(child).strip(), None


class _CppFunction:
    """A C++ function definition whose `name` field is its declarator's name."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.start_point = node.start_point

    def child_by_field_name(self, field: str) -> Node | None:
        return _cpp_name(self.node) if field == "name" else self.node.child_by_field_name(field)


def _cpp_wrapped(root: Node) -> Iterator[tuple[Node, Node]]:
    for node, anchor in _cpp_functions(root):
        yield _CppFunction(node), anchor  # type: ignore[misc]


def _cpp_unwrapped(check: Callable[[Node], bool]) -> Callable[[Node], bool]:
    return lambda function: check(getattr(function, "node", function))


# ---- the table -------------------------------------------------------------------------------


def _parser(module: str, entry: str = "language") -> Callable[[], Parser]:
    def make() -> Parser:
        import importlib

        from tree_sitter import Language, Parser

        return Parser(Language(getattr(importlib.import_module(module), entry)()))

    return cache(make)


def _jsdoc(text: str) -> bool:
    return text.startswith("/**") and not text.startswith("/**/")


def _doxygen(text: str) -> bool:
    return _jsdoc(text) or text.startswith(("/*!", "///", "//!"))


def _rust_doc(text: str) -> bool:
    return (text.startswith("///") and not text.startswith("////")) or _jsdoc(text)


def _go_doc(text: str) -> bool:
    return (text.startswith("//") and not text.startswith("//go:")) or text.startswith("/*")


@cache
def _grammar(language: str) -> _Grammar:
    if language in ("javascript", "typescript"):
        return _Grammar(
            _parser("tree_sitter_javascript")
            if language == "javascript"
            else _parser("tree_sitter_typescript", "language_typescript"),
            _js_functions,
            _jsdoc,
            False,
            _js_imports,
            _js_returns,
            _js_arguments,
            _JS_NESTED,
        )
    if language == "java":
        return _Grammar(
            _parser("tree_sitter_java"),
            _java_functions,
            _jsdoc,
            False,
            _java_imports,
            _java_returns,
            lambda f: bool(_parameters(f.child_by_field_name("parameters"))),
            _JAVA_NESTED,
        )
    if language == "go":
        return _Grammar(
            _parser("tree_sitter_go"),
            _go_functions,
            _go_doc,
            True,
            _go_imports,
            _go_returns,
            _go_arguments,
            _GO_NESTED,
        )
    if language == "rust":
        return _Grammar(
            _parser("tree_sitter_rust"),
            _rust_functions,
            _rust_doc,
            True,
            _rust_imports,
            _rust_returns,
            lambda f: bool(_parameters(f.child_by_field_name("parameters"))),
            _RUST_NESTED,
        )
    if language == "cpp":
        return _Grammar(
            _parser("tree_sitter_cpp"),
            _cpp_wrapped,
            _doxygen,
            True,
            _cpp_imports,
            _cpp_unwrapped(_cpp_returns),
            _cpp_unwrapped(_cpp_arguments),
            _CPP_NESTED,
        )
    raise ValueError(f"no seed grammar for language {language!r}")


def parser_for(language: str) -> Parser:
    """The tree-sitter parser of `language` (one of `LANGUAGES`)."""
    return _grammar(language).parser()
