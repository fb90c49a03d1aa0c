//! One token at a time: how a [`Reading`] moves through the source, with
//! oxc's lexical rules for whitespace, comments, strings, templates and
//! regular expression literals.

use oxc::syntax::identifier::is_identifier_part;
use oxc::syntax::identifier::is_irregular_whitespace;
use oxc::syntax::line_terminator::is_line_terminator;

use super::Control;
use super::Cx;
use super::Flow;
use super::Frame;
use super::NestingError;
use super::Prev;
use super::REGEX_GROUP_WEIGHT;
use super::Reading;
use super::Word;
use super::classify;
use super::continues;
use super::is_ascii_word_byte;

/// Multi-byte punctuators, longest first (`/` and TypeScript `<`/`>` are
/// read apart).
const PUNCTUATORS: [&[u8]; 32] = [
    b">>>=", b"...", b"===", b"!==", b"**=", b"<<=", b">>=", b">>>", b"&&=", b"||=", b"??=", b"=>",
    b"==", b"!=", b"<=", b">=", b"&&", b"||", b"??", b"?.", b"++", b"--", b"+=", b"-=", b"*=",
    b"%=", b"&=", b"|=", b"^=", b"**", b"<<", b">>",
];

impl Reading {
    /// Reads the next token.
    pub(super) fn step(&mut self, cx: &Cx<'_>) -> Result<Flow, NestingError> {
        self.skip_trivia(cx);
        let start = self.pos;
        let Some(b) = cx.byte(start) else {
            return Ok(Flow::Stop);
        };
        if std::mem::take(&mut self.after_semicolon)
            && !(word_at(cx, start, b"else") || word_at(cx, start, b"while"))
        {
            self.counts.stmt = 0;
        }
        let control = std::mem::replace(&mut self.control, Control::No);
        let after_for = std::mem::take(&mut self.after_for);
        let label = std::mem::take(&mut self.label);
        let stmt_start = std::mem::take(&mut self.stmt_start);
        let flow = match b {
            b'\'' | b'"' => {
                self.statement_may_start();
                self.string(cx, b)
            }
            b'`' => {
                self.count_if_continuing();
                self.template(cx, start + 1)
            }
            b'0'..=b'9' => self.number(cx),
            b'.' if cx.byte(start + 1).is_some_and(|d| d.is_ascii_digit()) => self.number(cx),
            b'#' if cx.byte(start + 1).is_some_and(starts_word) => {
                self.statement_may_start();
                self.pos += 1;
                self.read_word(cx);
                self.prev = Prev::Operand;
                Flow::Continue
            }
            b'(' | b'[' | b'{' => self.open(b, control),
            b')' | b']' | b'}' => self.close(cx, b),
            b';' | b',' | b':' => self.separator(b, label),
            b'/' => self.slash(cx)?,
            b'<' | b'>' if cx.typescript => self.angles(cx, b),
            _ if starts_word(b) || (b >= 0x80 && starts_unicode_word(cx, start)) => {
                self.word(cx, after_for, stmt_start)
            }
            _ => self.punctuator(cx),
        };
        self.line_break = false;
        self.ensure(0, start, cx.limit)?;
        Ok(flow)
    }

    /// Skips whitespace and comments, noting line breaks.
    fn skip_trivia(&mut self, cx: &Cx<'_>) {
        while let Some(b) = cx.byte(self.pos) {
            let next = cx.byte(self.pos + 1);
            match b {
                b' ' | b'\t' | 0x0B | 0x0C => self.pos += 1,
                b'\n' | b'\r' => {
                    self.line_break = true;
                    self.pos += 1;
                }
                b'/' if next == Some(b'/') => self.skip_line(cx),
                b'/' if next == Some(b'*') => self.skip_block_comment(cx),
                // A hashbang, and (in modules, at the start of a line) `<!--`.
                b'#' if self.pos == 0 && next == Some(b'!') => self.skip_line(cx),
                b'<' if self.line_break && cx.src[self.pos..].starts_with(b"<!--") => {
                    self.skip_line(cx);
                }
                0x80.. => match cx.char_at(self.pos) {
                    Some((c, len)) if is_line_terminator(c) => {
                        self.line_break = true;
                        self.pos += len;
                    }
                    Some((c, len)) if is_irregular_whitespace(c) => self.pos += len,
                    _ => return,
                },
                _ => return,
            }
        }
    }

    /// Skips to the line terminator that ends a single-line comment.
    fn skip_line(&mut self, cx: &Cx<'_>) {
        while let Some(b) = cx.byte(self.pos) {
            if b == b'\n' || b == b'\r' {
                return;
            }
            if b >= 0x80
                && let Some((c, len)) = cx.char_at(self.pos)
            {
                if is_line_terminator(c) {
                    return;
                }
                self.pos += len;
            } else {
                self.pos += 1;
            }
        }
    }

    fn skip_block_comment(&mut self, cx: &Cx<'_>) {
        let body = self.pos + 2;
        let end = cx.src[body..]
            .windows(2)
            .position(|w| w == b"*/")
            .map_or(cx.src.len(), |i| body + i + 2);
        let text = &cx.src[body..end.min(cx.src.len())];
        if text.iter().any(|&b| b == b'\n' || b == b'\r')
            || text
                .windows(3)
                .any(|w| w == "\u{2028}".as_bytes() || w == "\u{2029}".as_bytes())
        {
            self.line_break = true;
        }
        self.pos = end;
    }

    /// A word or literal here may start a statement: after a `}`, or after
    /// an operand and a line break (automatic semicolon insertion).
    fn statement_may_start(&mut self) -> bool {
        if self.prev == Prev::BraceClose || (self.line_break && self.prev == Prev::Operand) {
            self.boundary();
            true
        } else {
            false
        }
    }

    /// A `(`, `[` or template after an operand makes a call, an index or a
    /// tag, which later operators nest on: one unit that outlives it.
    fn count_if_continuing(&mut self) {
        if !matches!(self.prev, Prev::Operator | Prev::Dot | Prev::ControlParen) {
            self.count(false);
        }
    }

    fn open(&mut self, b: u8, control: Control) -> Flow {
        self.pos += 1;
        let frame = match b {
            b'(' => Frame::Paren(control),
            b'[' => Frame::Bracket,
            _ => Frame::Brace,
        };
        if frame != Frame::Brace {
            self.count_if_continuing();
        }
        self.push(frame);
        self.stmt_start = frame == Frame::Brace;
        self.prev = Prev::Operator;
        Flow::Continue
    }

    /// A closing bracket; one that closes nothing open ends the reading.
    fn close(&mut self, cx: &Cx<'_>, b: u8) -> Flow {
        self.pos += 1;
        self.pop_angles();
        let Some(&(frame, _)) = self.frames.last() else {
            return Flow::Stop;
        };
        match (b, frame) {
            (b')', Frame::Paren(control)) => {
                self.pop();
                self.prev = match control {
                    Control::No => Prev::Operand,
                    Control::Yes => Prev::ControlParen,
                    Control::Maybe => Prev::Ambiguous,
                };
                self.stmt_start = control != Control::No;
            }
            (b']', Frame::Bracket) => {
                self.pop();
                self.prev = Prev::Operand;
            }
            (b'}', Frame::Brace) => {
                self.pop();
                self.prev = Prev::BraceClose;
                self.stmt_start = true;
            }
            (b'}', Frame::Template) => {
                self.pop();
                return self.template(cx, self.pos);
            }
            _ => return Flow::Stop,
        }
        Flow::Continue
    }

    fn separator(&mut self, b: u8, label: bool) -> Flow {
        self.pos += 1;
        match b {
            b';' => {
                self.pop_angles();
                self.counts.expr = 0;
                self.after_semicolon = true;
                self.stmt_start = true;
            }
            b',' => self.counts.expr = 0,
            _ => {
                // A label nests the statement after it, across commas.
                self.count(label);
                self.stmt_start = true;
            }
        }
        self.prev = Prev::Operator;
        Flow::Continue
    }

    /// A string literal; a line break or the end before its quote ends the
    /// reading (oxc stops there).
    fn string(&mut self, cx: &Cx<'_>, quote: u8) -> Flow {
        let mut pos = self.pos + 1;
        loop {
            match cx.byte(pos) {
                None | Some(b'\n' | b'\r') => return Flow::Stop,
                Some(b'\\') => {
                    let crlf = cx.byte(pos + 1) == Some(b'\r') && cx.byte(pos + 2) == Some(b'\n');
                    pos += if crlf { 3 } else { 2 };
                }
                Some(b) if b == quote => break,
                Some(_) => pos += 1,
            }
        }
        self.pos = pos + 1;
        self.prev = Prev::Operand;
        Flow::Continue
    }

    /// Template text from `from` to its end or to the next `${`.
    fn template(&mut self, cx: &Cx<'_>, from: usize) -> Flow {
        let mut pos = from;
        loop {
            match cx.byte(pos) {
                None => return Flow::Stop,
                Some(b'\\') => pos += 2,
                Some(b'`') => {
                    self.pos = pos + 1;
                    self.prev = Prev::Operand;
                    return Flow::Continue;
                }
                Some(b'$') if cx.byte(pos + 1) == Some(b'{') => {
                    self.pos = pos + 2;
                    self.push(Frame::Template);
                    self.prev = Prev::Operator;
                    return Flow::Continue;
                }
                Some(_) => pos += 1,
            }
        }
    }

    fn number(&mut self, cx: &Cx<'_>) -> Flow {
        self.statement_may_start();
        let start = self.pos;
        let radix = cx.byte(start) == Some(b'0')
            && cx.byte(start + 1).is_some_and(|b| b.is_ascii_alphabetic());
        while let Some(b) = cx.byte(self.pos) {
            let exponent_sign = matches!(b, b'+' | b'-')
                && !radix
                && matches!(cx.byte(self.pos - 1), Some(b'e' | b'E'));
            if is_ascii_word_byte(b) || b == b'.' || exponent_sign {
                self.pos += 1;
            } else {
                break;
            }
        }
        self.prev = Prev::Operand;
        Flow::Continue
    }

    /// Reads a word's characters; true when it has escapes or non-ASCII
    /// characters (it may then be a keyword in disguise).
    fn read_word(&mut self, cx: &Cx<'_>) -> bool {
        let mut unusual = false;
        while let Some(b) = cx.byte(self.pos) {
            if is_ascii_word_byte(b) {
                self.pos += 1;
            } else if b == b'\\' {
                unusual = true;
                self.pos += 1;
                if cx.byte(self.pos) == Some(b'u') && cx.byte(self.pos + 1) == Some(b'{') {
                    self.pos += 2;
                    while cx.byte(self.pos).is_some_and(|h| h.is_ascii_hexdigit()) {
                        self.pos += 1;
                    }
                    if cx.byte(self.pos) == Some(b'}') {
                        self.pos += 1;
                    }
                }
            } else if let Some((c, len)) = cx.char_at(self.pos).filter(|_| b >= 0x80)
                && is_identifier_part(c)
            {
                unusual = true;
                self.pos += len;
            } else {
                break;
            }
        }
        unusual
    }

    fn word(&mut self, cx: &Cx<'_>, after_for: bool, stmt_start: bool) -> Flow {
        let start = self.pos;
        let unusual = self.read_word(cx);
        let text = &cx.src[start..self.pos];
        let kind = if self.prev == Prev::Dot {
            Word::Plain
        } else if unusual {
            Word::Escaped
        } else {
            classify(text)
        };
        let at_boundary = kind != Word::Escaped && !continues(text) && self.statement_may_start();
        let stmt_start = stmt_start || at_boundary;
        match kind {
            Word::Plain | Word::Value => self.prev = Prev::Operand,
            Word::Contextual | Word::Ambiguous => {
                self.count(false);
                self.prev = if kind == Word::Contextual {
                    Prev::Contextual
                } else {
                    Prev::Ambiguous
                };
                if after_for && text == b"await" {
                    self.control = Control::Yes;
                }
            }
            Word::Operator => {
                self.count(false);
                self.prev = Prev::Operator;
            }
            Word::Control | Word::Body => {
                self.count(true);
                self.prev = Prev::Operator;
                self.control = if kind == Word::Control {
                    Control::Yes
                } else {
                    Control::No
                };
                self.after_for = text == b"for";
                self.stmt_start = kind == Word::Body;
            }
            Word::Clause => {
                self.boundary();
                self.count(false);
                self.prev = Prev::Operator;
            }
            Word::Escaped => {
                self.count(true);
                self.prev = Prev::Ambiguous;
                self.control = Control::Maybe;
                self.stmt_start = true;
            }
        }
        self.label = stmt_start
            && matches!(
                kind,
                Word::Plain | Word::Contextual | Word::Ambiguous | Word::Escaped
            );
        Flow::Continue
    }
}

/// Whether `word` starts at `pos` as a whole word.
fn word_at(cx: &Cx<'_>, pos: usize, word: &[u8]) -> bool {
    cx.src[pos..].starts_with(word)
        && !cx
            .byte(pos + word.len())
            .is_some_and(|b| is_ascii_word_byte(b) || b == b'\\' || b >= 0x80)
}

fn starts_word(b: u8) -> bool {
    is_ascii_word_byte(b) || b == b'\\'
}

fn starts_unicode_word(cx: &Cx<'_>, pos: usize) -> bool {
    cx.char_at(pos).is_some_and(|(c, _)| is_identifier_part(c))
}

impl Reading {
    /// A `/`: a regular expression or a division, by the previous token;
    /// where that does not decide, both readings go on.
    fn slash(&mut self, cx: &Cx<'_>) -> Result<Flow, NestingError> {
        let regex = match self.prev {
            Prev::Operator | Prev::ControlParen => Some(true),
            Prev::Dot => Some(false),
            Prev::Operand | Prev::Contextual => (!self.line_break).then_some(false),
            Prev::Ambiguous | Prev::BraceClose | Prev::AngleClose => None,
        };
        self.line_break = false;
        match regex {
            Some(true) => self.regex(cx),
            Some(false) => Ok(self.division(cx)),
            None => {
                let mut other = self.clone();
                let fork = match other.regex(cx)? {
                    Flow::Stop => None,
                    _ => Some(Box::new(other)),
                };
                self.division(cx);
                Ok(fork.map_or(Flow::Continue, Flow::Fork))
            }
        }
    }

    fn division(&mut self, cx: &Cx<'_>) -> Flow {
        self.pos += if cx.byte(self.pos + 1) == Some(b'=') {
            2
        } else {
            1
        };
        self.count(false);
        self.prev = Prev::Operator;
        Flow::Continue
    }

    /// A regular expression literal, by the lexical grammar oxc uses; its
    /// groups and classes nest in oxc's pattern parser.
    fn regex(&mut self, cx: &Cx<'_>) -> Result<Flow, NestingError> {
        let start = self.pos;
        let mut pos = start + 1;
        let (mut groups, mut class, mut deepest) = (0u32, None::<u32>, 0u32);
        loop {
            let Some((c, len)) = cx.char_at(pos) else {
                return Ok(Flow::Stop);
            };
            if is_line_terminator(c) {
                return Ok(Flow::Stop);
            }
            pos += len;
            match c {
                '\\' => match cx.char_at(pos) {
                    Some((e, elen)) if !is_line_terminator(e) => pos += elen,
                    _ => return Ok(Flow::Stop),
                },
                '/' if class.is_none() => break,
                '[' => class = Some(class.map_or(1, |n| n.saturating_add(1))),
                ']' => class = None,
                '(' if class.is_none() => groups = groups.saturating_add(1),
                ')' if class.is_none() => groups = groups.saturating_sub(1),
                _ => {}
            }
            deepest = deepest.max(groups.saturating_add(class.unwrap_or(0)));
        }
        while let Some((c, len)) = cx.char_at(pos) {
            if c == '\\' || is_identifier_part(c) {
                pos += len;
            } else {
                break;
            }
        }
        self.pos = pos;
        self.ensure(
            deepest.saturating_mul(REGEX_GROUP_WEIGHT).saturating_add(1),
            start,
            cx.limit,
        )?;
        self.prev = Prev::Operand;
        Ok(Flow::Continue)
    }

    /// TypeScript `<` and `>` runs: each `<` opens a frame (type arguments
    /// or parameters, or a comparison), each `>` closes one if open.
    fn angles(&mut self, cx: &Cx<'_>, b: u8) -> Flow {
        let mut run = 0;
        let mut closed = false;
        while cx.byte(self.pos) == Some(b) && run < if b == b'<' { 2 } else { 3 } {
            // As comparisons, `<` and `>` nest like any operator.
            self.count(false);
            if b == b'<' {
                self.push(Frame::Angle);
            } else if matches!(self.frames.last(), Some((Frame::Angle, _))) {
                self.pop_angle();
                self.count(false);
                closed = true;
            }
            self.pos += 1;
            run += 1;
        }
        if cx.byte(self.pos) == Some(b'=') {
            self.pos += 1;
        }
        self.prev = if closed {
            Prev::AngleClose
        } else {
            Prev::Operator
        };
        Flow::Continue
    }

    fn punctuator(&mut self, cx: &Cx<'_>) -> Flow {
        let rest = &cx.src[self.pos..];
        let len = PUNCTUATORS
            .iter()
            .find(|p| rest.starts_with(p))
            .map_or_else(
                || cx.char_at(self.pos).map_or(1, |(_, len)| len),
                |p| p.len(),
            );
        let token = &rest[..len];
        // `?.5` is `?` then `.5`.
        let len = if token == b"?." && rest.get(2).is_some_and(u8::is_ascii_digit) {
            1
        } else {
            len
        };
        let token = &rest[..len];
        self.pos += len;
        self.count(false);
        if token == b"=>" {
            // An arrow nests its body and, in a type, its parameters' frame
            // is gone by then: count it twice.
            self.count(false);
        }
        self.prev = match token {
            b"." | b"?." => Prev::Dot,
            b"++" | b"--" => match self.prev {
                Prev::Operand if !self.line_break => Prev::Operand,
                Prev::Operator | Prev::Dot | Prev::ControlParen => Prev::Operator,
                _ => Prev::Ambiguous,
            },
            _ => Prev::Operator,
        };
        Flow::Continue
    }
}
