"""Variable substitution in Dockerfile words (pure), with Docker's (moby shell lexer) rules.

`$VAR` and `${VAR}`; `${VAR:-word}` / `${VAR-word}` (default when unset-or-empty / unset),
`${VAR:+word}` / `${VAR+word}` (alternative when set-and-non-empty / set),
`${VAR:?msg}` / `${VAR?msg}` (error); the word is itself expanded. Single quotes are
literal; inside double quotes the escape character escapes only `"`, `$` and itself;
outside quotes it escapes any character. Quotes are removed. `words()` also splits on
unquoted whitespace (EXPOSE, VOLUME, USER... take several words).
"""

from __future__ import annotations

from collections.abc import Mapping

from wharfie.errors import InvalidArgument

_NAME_START = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_"
_NAME = _NAME_START + "0123456789"


def word(text: str, env: Mapping[str, str], escape: str = "\\") -> str:
    """`text` with variables substituted and quotes removed."""
    return _Lexer(text, env, escape, split=False).run()[0] if text else ""


def words(text: str, env: Mapping[str, str], escape: str = "\\") -> list[str]:
    """Like `word`, then split on unquoted whitespace."""
    return [w for w in _Lexer(text, env, escape, split=True).run() if w != ""] if text else []


def heredoc(text: str, env: Mapping[str, str], escape: str = "\\") -> str:
    """A heredoc's body with variables expanded as a shell does for `<<EOF`: quotes are
    literal, the escape character escapes only `$` and itself."""
    lx = _Lexer(text, env, escape, split=False)
    out: list[str] = []
    while lx.i < len(text):
        ch = lx.next()
        if ch == "$":
            out.append(lx._dollar())
        elif ch == escape and lx.peek() in ("$", escape) and lx.peek():
            out.append(lx.next())
        else:
            out.append(ch)
    return "".join(out)


class _Words:
    def __init__(self, split: bool) -> None:
        self.split = split
        self.out: list[str] = []
        self.cur: list[str] = []
        self.have = False

    def char(self, ch: str, quoted: bool) -> None:
        if self.split and not quoted and ch in " \t\n":
            self.end()
            return
        self.cur.append(ch)
        self.have = True

    def text(self, s: str, quoted: bool) -> None:
        for ch in s:
            self.char(ch, quoted)

    def mark(self) -> None:
        """A quoted empty string still makes a word."""
        self.have = True

    def end(self) -> None:
        if self.have:
            self.out.append("".join(self.cur))
        self.cur, self.have = [], False

    def result(self) -> list[str]:
        self.end()
        return self.out or [""]


class _Lexer:
    def __init__(self, text: str, env: Mapping[str, str], escape: str, split: bool) -> None:
        self.s = text
        self.i = 0
        self.env = env
        self.esc = escape
        self.split = split

    def peek(self) -> str:
        return self.s[self.i] if self.i < len(self.s) else ""

    def next(self) -> str:
        ch = self.peek()
        self.i += 1
        return ch

    def run(self, stop: str = "") -> list[str]:
        w = _Words(self.split)
        while self.i < len(self.s):
            ch = self.peek()
            if stop and ch == stop:
                break
            self.i += 1
            if ch == "'":
                self._single(w)
            elif ch == '"':
                self._double(w)
            elif ch == "$":
                w.text(self._dollar(), False)
            elif ch == self.esc:
                nxt = self.next()
                if nxt:
                    w.char(nxt, True)
            else:
                w.char(ch, False)
        return w.result()

    def _single(self, w: _Words) -> None:
        w.mark()
        while True:
            ch = self.next()
            if ch == "":
                raise InvalidArgument("unexpected end of statement while looking for matching '")
            if ch == "'":
                return
            w.char(ch, True)

    def _double(self, w: _Words) -> None:
        w.mark()
        while True:
            ch = self.next()
            if ch == "":
                raise InvalidArgument('unexpected end of statement while looking for matching "')
            if ch == '"':
                return
            if ch == "$":
                w.text(self._dollar(), True)
                continue
            if ch == self.esc and self.peek() in ('"', "$", self.esc) and self.peek():
                ch = self.next()
            w.char(ch, True)

    def _dollar(self) -> str:
        ch = self.peek()
        if ch == "{":
            self.i += 1
            return self._braced()
        name = self._name()
        if not name:
            return "$"
        return self.env.get(name, "")

    def _name(self) -> str:
        start = self.i
        if self.peek().isdigit():
            self.i += 1
            return self.s[start : self.i]
        while self.peek() and self.peek() in _NAME:
            self.i += 1
        name = self.s[start : self.i]
        return name if name and name[0] in _NAME_START else ""

    def _braced(self) -> str:
        name = self._name()
        if not name:
            raise InvalidArgument(f"bad substitution: missing or invalid name in {self.s!r}")
        ch = self.next()
        if ch == "}":
            return self.env.get(name, "")
        if ch == "":
            raise InvalidArgument(f"syntax error: missing '}}' in {self.s!r}")
        colon = ch == ":"
        if colon:
            ch = self.next()
        if ch not in ("-", "+", "?"):
            raise InvalidArgument(f"unsupported modifier ({ch or 'EOF'}) in substitution")
        arg = _Lexer(self.s[self.i :], self.env, self.esc, split=False)
        value_word = arg.run(stop="}")[0]
        self.i += arg.i
        if self.next() != "}":
            raise InvalidArgument(f"missing '}}' in substitution in {self.s!r}")
        return _modify(name, self.env, ch, colon, value_word)


def _modify(name: str, env: Mapping[str, str], op: str, colon: bool, arg: str) -> str:
    is_set = name in env
    value = env.get(name, "")
    present = is_set and (value != "" or not colon)
    if op == "-":
        return value if present else arg
    if op == "+":
        return arg if present else ""
    if not present:
        raise InvalidArgument(f"{name}: {arg or 'is not allowed to be unset'}")
    return value
