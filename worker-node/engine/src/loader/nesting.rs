//! A bound on how deeply a module's source nests, computed before any parser
//! sees it, so that no source can overflow the compiler's stack.
//!
//! oxc's parser, and every pass after it (semantic analysis, the TypeScript
//! transform, the module-runner rewrite, codegen), recurses once per level of
//! nesting: brackets, but also prefix and right-associative operators (`!!x`,
//! `a = b = c`, `a ? b : c ? d : e`, `a => b => c`), brace-less statements
//! (`if (a) if (b) ...`, `else if` chains, labels, `do`) and, for the passes
//! after parsing, the left-deep trees of operator chains (`a + b + c`,
//! `a.b.c`, `f()()`). [`check`] measures all of them in *units* with one
//! iterative scan of the source, and refuses a module that reaches
//! [`MAX_NESTING`] units.
//!
//! # Units
//!
//! The scan keeps, for the innermost frame (an open `(`, `[`, `{`, `${`, or a
//! TypeScript `<`), two counters of the operator and keyword tokens seen
//! since the last point where the parser must have returned to a list: `expr`
//! (reset at `,`, `;` and statement boundaries) and `stmt` for brace-less
//! statement bodies and labels (reset at `;` and statement boundaries but not
//! at `,`, and kept across `;` when `else` or a do-while's `while` follows).
//! Opening a frame saves the counters and adds its weight. A module's nesting
//! is the largest sum, over the open frames, of their weights and saved
//! counters plus the current counters. Identifiers and literals count
//! nothing; every operator and keyword counts one (`=>` two); an open
//! bracket weighs [`BRACKET_WEIGHT`], and a `(`, `[` or template that
//! continues an operand (a call, an index, a tag) leaves one unit behind
//! when it closes; a TypeScript `<` weighs [`ANGLE_WEIGHT`] (the parser's
//! speculative type-argument parsing is quadratic in their nesting); a group
//! or class inside a regular expression literal weighs [`REGEX_GROUP_WEIGHT`].
//! Statement boundaries are `;`, `case`/`default`, a `}` followed by a word
//! or literal, and a line break between an operand and a word or literal
//! (where automatic semicolon insertion applies); words that continue a
//! construct (`else`, `catch`, `in`, `as`, ...) are never boundaries, and
//! neither is anything after a word that may be a keyword.
//!
//! Real code measures little: the deepest of 166 MB of npm packages and
//! minified bundles is 146 units. What a unit costs on the stack is
//! measured by `loader/stack_cost.rs`.
//!
//! # Reading the source as the parser does
//!
//! Strings, comments, template text and regular expression literals are
//! skipped with oxc's own lexical rules (line terminators, irregular
//! whitespace, `<!--` comments at the start of a line). The one lexical
//! choice that needs the grammar — whether a `/` starts a regular expression
//! or divides — is made from the previous token where that is certain, and
//! otherwise (after a `}`, after a line break that may end a statement, after
//! `of`/`yield`/`await`/`let`, after a TypeScript `>`) the scan follows both
//! readings. A reading that meets what the parser would reject (an
//! unterminated string or regular expression, mismatched brackets) ends,
//! since the parser stops there too; readings that meet again at the same
//! place in the same state merge. More than [`MAX_READINGS`] live readings is
//! an error of its own (no real code comes close).
//!
//! JSX is not read: `.jsx`/`.tsx` modules are parsed as plain JS/TS.

mod lex;

/// Most nesting units a module may reach. Real code stays far below: a
/// 1,000-term string concatenation is about 1,000 units, JSON nested 300
/// levels deep about 1,500, `else if` chains two units a branch. The
/// compiler thread's stack (`COMPILE_STACK_BYTES` in the loader) holds this
/// many units twenty times over: the costliest unit measured takes 1.55 KB
/// of stack in a debug build and 0.9 KB in a release build.
pub const MAX_NESTING: u32 = 4_000;

/// Units of an open TypeScript `<` (type arguments, or a comparison the scan
/// cannot tell apart): oxc's speculative parsing of nested `<` takes time
/// quadratic in their depth (1,000 nested: 0.1 s release, 0.8 s debug).
pub const ANGLE_WEIGHT: u32 = 4;

/// Units of a group or nested class in a regular expression literal: oxc's
/// pattern parser takes up to 19 KiB of stack per group in a debug build.
pub const REGEX_GROUP_WEIGHT: u32 = 16;

/// Units of an open bracket (`(`, `[`, `{`, `${`): what the parser and
/// each pass spend on one level of brackets is about twice what they spend
/// on one operator.
pub const BRACKET_WEIGHT: u32 = 2;

/// Most readings of the source followed at once (see the module docs).
pub const MAX_READINGS: usize = 16;

/// Most frames copied or compared to follow several readings of one module:
/// bounds the time an adversarial module can spend here (real code forks
/// rarely, if ever: none in 166 MB of npm packages and minified bundles).
const MAX_READING_WORK: usize = 4_000_000;

/// Why a module was refused before parsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NestingError {
    /// The source reaches more than [`MAX_NESTING`] units at byte `offset`.
    TooDeep {
        /// Where the limit was crossed.
        offset: u32,
    },
    /// More than [`MAX_READINGS`] readings of `/` were live at `offset`.
    TooAmbiguous {
        /// Where the readings multiplied.
        offset: u32,
    },
}

impl NestingError {
    /// Where in the source the problem was found.
    pub fn offset(self) -> u32 {
        match self {
            NestingError::TooDeep { offset } | NestingError::TooAmbiguous { offset } => offset,
        }
    }

    /// What is wrong, for a person.
    pub fn message(self) -> String {
        match self {
            NestingError::TooDeep { .. } => format!(
                "the module nests expressions deeper than {MAX_NESTING} levels (brackets, operator \
                 chains and nested statements, counted as the compiler nests them); split it into \
                 smaller expressions or functions"
            ),
            NestingError::TooAmbiguous { .. } => format!(
                "the module has more than {MAX_READINGS} places at once where `/` may start a \
                 regular expression or divide; put parentheses around regular expressions that \
                 start a statement"
            ),
        }
    }
}

/// Checks that `source` (a module; TypeScript when `typescript`) never nests
/// deeper than [`MAX_NESTING`] units, without recursion.
///
/// # Errors
///
/// [`NestingError`] saying where the module nests too deeply or cannot be read.
pub fn check(source: &str, typescript: bool) -> Result<(), NestingError> {
    measure(source, typescript, MAX_NESTING).map(|_| ())
}

/// What a scan found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Measurement {
    /// The deepest nesting, in units, any reading reached.
    pub deepest: u32,
    /// Some reading read to the end of the source (none did when every
    /// reading met something the parser rejects).
    pub reached_end: bool,
    /// The most readings live at once.
    pub most_readings: usize,
    /// How many times a `/` was read both ways.
    pub forks: usize,
}

/// Scans `source`, failing as soon as a reading passes `limit` units.
pub(super) fn measure(
    source: &str,
    typescript: bool,
    limit: u32,
) -> Result<Measurement, NestingError> {
    let cx = Cx {
        src: source.as_bytes(),
        typescript,
        limit,
    };
    let mut found = Measurement::default();
    let mut work = 0usize;
    let mut live = vec![Reading::new()];
    while let Some(i) = (0..live.len()).min_by_key(|&i| live[i].pos) {
        match live[i].step(&cx)? {
            Flow::Continue => {}
            Flow::Fork(other) => {
                found.forks += 1;
                work = work.saturating_add(other.frames.len() + 1);
                live.push(*other);
            }
            Flow::Stop => {
                let done = live.swap_remove(i);
                found.deepest = found.deepest.max(done.deepest);
                found.reached_end |= done.pos >= cx.src.len();
                continue;
            }
        }
        if live.len() > 1 {
            work = work.saturating_add(merge_equal(&mut live));
            found.most_readings = found.most_readings.max(live.len());
            if live.len() > MAX_READINGS || work > MAX_READING_WORK {
                return Err(NestingError::TooAmbiguous {
                    offset: offset(live[i.min(live.len() - 1)].pos),
                });
            }
        }
    }
    Ok(found)
}

/// Merges readings at the same place in the same state, keeping the larger
/// counters, so that readings which met again are followed once. Returns
/// how many frames it compared.
fn merge_equal(live: &mut Vec<Reading>) -> usize {
    let mut work = 0;
    let mut i = 0;
    while i < live.len() {
        let mut j = i + 1;
        while j < live.len() {
            let (same, compared) = live[i].same_state(&live[j]);
            work += compared;
            if same {
                let other = live.swap_remove(j);
                live[i].absorb(&other);
            } else {
                j += 1;
            }
        }
        i += 1;
    }
    work
}

fn offset(pos: usize) -> u32 {
    u32::try_from(pos).unwrap_or(u32::MAX)
}

/// The source being scanned.
struct Cx<'s> {
    src: &'s [u8],
    typescript: bool,
    /// The most units a reading may reach.
    limit: u32,
}

impl Cx<'_> {
    fn byte(&self, pos: usize) -> Option<u8> {
        self.src.get(pos).copied()
    }

    /// The char at `pos` (a char boundary) and its length in bytes.
    fn char_at(&self, pos: usize) -> Option<(char, usize)> {
        let rest = self.src.get(pos..)?;
        let len = match *rest.first()? {
            b if b < 0x80 => 1,
            b if b >= 0xF0 => 4,
            b if b >= 0xE0 => 3,
            _ => 2,
        };
        let c = std::str::from_utf8(rest.get(..len)?).ok()?.chars().next()?;
        Some((c, len))
    }
}

/// What one step of a reading leads to.
enum Flow {
    Continue,
    /// The other reading of an ambiguous `/`, to be followed too.
    Fork(Box<Reading>),
    /// The end of the module, or of a reading the parser would reject here.
    Stop,
}

/// A frame of nesting: an open bracket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Frame {
    /// `(`; whether it holds the head of `if`/`for`/`while`/`with`.
    Paren(Control),
    Bracket,
    Brace,
    /// `${` in a template literal.
    Template,
    /// A TypeScript `<`: type arguments or parameters, or a comparison.
    Angle,
}

impl Frame {
    fn weight(self) -> u32 {
        if self == Frame::Angle {
            ANGLE_WEIGHT
        } else {
            BRACKET_WEIGHT
        }
    }
}

/// Whether a `(` opens the head of a control statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Control {
    No,
    Yes,
    /// After an escaped word, which may be `if` in disguise.
    Maybe,
}

/// The counters of the innermost frame.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Counts {
    expr: u32,
    stmt: u32,
}

impl Counts {
    fn total(self) -> u32 {
        self.expr.saturating_add(self.stmt)
    }

    fn max(self, other: Counts) -> Counts {
        Counts {
            expr: self.expr.max(other.expr),
            stmt: self.stmt.max(other.stmt),
        }
    }
}

/// The previous token, as far as the next one's reading depends on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Prev {
    /// The start, an operator or a keyword: an operand follows, `/` starts
    /// a regular expression.
    Operator,
    /// `.` or `?.`: the next word is a property name.
    Dot,
    /// The end of an operand (identifier, literal, `)`, `]`, postfix `++`):
    /// `/` divides, and a line break may end the statement.
    Operand,
    /// A contextual word (`as`, `async`, `type`, `readonly`, ...): `/`
    /// divides, but it may be a keyword, so a line break ends nothing.
    Contextual,
    /// A word after which `/` may start a regular expression or divide
    /// (`of`, `yield`, `await`, `let`, escaped words).
    Ambiguous,
    /// The `)` of a control statement's head: a statement follows.
    ControlParen,
    /// A `}`: of a block (a statement follows) or of an expression.
    BraceClose,
    /// A TypeScript `>`: the end of type arguments, or an operator.
    AngleClose,
}

/// How a word reads, when it is not a property name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Word {
    /// An identifier (or a type name): an operand.
    Plain,
    /// `this`, `null`, `true`, `false`, `super`.
    Value,
    /// A word that is a keyword only in some places.
    Contextual,
    /// `of`, `yield`, `await`, `let`.
    Ambiguous,
    /// A keyword after which an operand or a declaration follows.
    Operator,
    /// `if`, `for`, `while`, `with`: a head in parentheses, then a statement.
    Control,
    /// `else`, `do`: a statement follows.
    Body,
    /// `case`, `default`: a new clause of a switch.
    Clause,
    /// A word with escapes: may be any keyword in disguise.
    Escaped,
}

fn classify(word: &[u8]) -> Word {
    match word {
        b"this" | b"null" | b"true" | b"false" | b"super" => Word::Value,
        b"of" | b"yield" | b"await" | b"let" => Word::Ambiguous,
        b"if" | b"for" | b"while" | b"with" => Word::Control,
        b"else" | b"do" => Word::Body,
        b"case" | b"default" => Word::Clause,
        b"return" | b"typeof" | b"instanceof" | b"in" | b"new" | b"delete" | b"void" | b"throw"
        | b"extends" | b"var" | b"const" | b"function" | b"class" | b"import" | b"export"
        | b"try" | b"catch" | b"finally" | b"switch" | b"break" | b"continue" | b"debugger"
        | b"enum" => Word::Operator,
        b"as" | b"satisfies" | b"async" | b"get" | b"set" | b"static" | b"from" | b"type"
        | b"declare" | b"abstract" | b"namespace" | b"module" | b"interface" | b"readonly"
        | b"keyof" | b"infer" | b"unique" | b"is" | b"asserts" | b"accessor" | b"override"
        | b"public" | b"private" | b"protected" | b"implements" | b"package" | b"global"
        | b"out" | b"using" | b"target" | b"meta" | b"source" | b"defer" | b"assert"
        | b"require" | b"constructor" | b"intrinsic" => Word::Contextual,
        _ => Word::Plain,
    }
}

/// Words that continue the construct before them, so that a line break or
/// a `}` before them never ends a statement.
fn continues(word: &[u8]) -> bool {
    matches!(
        word,
        b"in"
            | b"instanceof"
            | b"of"
            | b"as"
            | b"satisfies"
            | b"extends"
            | b"implements"
            | b"is"
            | b"else"
            | b"while"
            | b"catch"
            | b"finally"
            | b"from"
            | b"with"
            | b"assert"
    )
}

fn is_ascii_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$'
}

/// One reading of the source: where it is and what is open there.
#[derive(Debug, Clone)]
struct Reading {
    pos: usize,
    frames: Vec<(Frame, Counts)>,
    counts: Counts,
    /// The sum over `frames` of their weights and saved counters.
    base: u32,
    prev: Prev,
    /// A word here may start a statement (so `word:` may be a label).
    stmt_start: bool,
    /// The previous token is a word that may be a label.
    label: bool,
    /// A line terminator since the previous token.
    line_break: bool,
    /// After `;`: `stmt` resets unless `else` or `while` comes next.
    after_semicolon: bool,
    /// Whether a `(` here opens a control statement's head.
    control: Control,
    /// The deepest this reading has been.
    deepest: u32,
    /// The previous token is the keyword `for` (for `for await (`).
    after_for: bool,
}

impl Reading {
    fn new() -> Self {
        Reading {
            pos: 0,
            frames: Vec::new(),
            counts: Counts::default(),
            base: 0,
            prev: Prev::Operator,
            stmt_start: true,
            label: false,
            line_break: false,
            after_semicolon: false,
            control: Control::No,
            after_for: false,
            deepest: 0,
        }
    }

    /// Whether both readings are in the same state but for their counters,
    /// and how many frames that took to compare.
    fn same_state(&self, other: &Reading) -> (bool, usize) {
        let scalars = self.pos == other.pos
            && self.prev == other.prev
            && self.stmt_start == other.stmt_start
            && self.label == other.label
            && self.line_break == other.line_break
            && self.after_semicolon == other.after_semicolon
            && self.control == other.control
            && self.after_for == other.after_for
            && self.frames.len() == other.frames.len();
        if !scalars {
            return (false, 0);
        }
        let differing = self
            .frames
            .iter()
            .rev()
            .zip(other.frames.iter().rev())
            .position(|(a, b)| a.0 != b.0);
        match differing {
            Some(at) => (false, at + 1),
            None => (true, self.frames.len()),
        }
    }

    /// Takes the larger counters of `other`, a reading in the same state.
    fn absorb(&mut self, other: &Reading) {
        self.deepest = self.deepest.max(other.deepest);
        self.counts = self.counts.max(other.counts);
        for (mine, theirs) in self.frames.iter_mut().zip(&other.frames) {
            mine.1 = mine.1.max(theirs.1);
        }
        self.base = self.frames.iter().fold(0u32, |sum, (frame, saved)| {
            sum.saturating_add(frame.weight())
                .saturating_add(saved.total())
        });
    }

    fn depth(&self) -> u32 {
        self.base.saturating_add(self.counts.total())
    }

    /// Fails once the nesting here, plus `extra`, passes the limit.
    fn ensure(&mut self, extra: u32, at: usize, limit: u32) -> Result<(), NestingError> {
        let depth = self.depth().saturating_add(extra);
        self.deepest = self.deepest.max(depth);
        if depth > limit {
            return Err(NestingError::TooDeep { offset: offset(at) });
        }
        Ok(())
    }

    fn push(&mut self, frame: Frame) {
        self.base = self
            .base
            .saturating_add(frame.weight())
            .saturating_add(self.counts.total());
        self.frames.push((frame, self.counts));
        self.counts = Counts::default();
    }

    /// Closes the innermost frame: the parser has returned from everything
    /// inside it, so its counters go and the saved ones come back.
    fn pop(&mut self) -> Option<Frame> {
        let (frame, saved) = self.frames.pop()?;
        self.base = self
            .base
            .saturating_sub(frame.weight())
            .saturating_sub(saved.total());
        self.counts = saved;
        Some(frame)
    }

    /// Closes a `<` frame. It may have been a comparison, so what was counted
    /// inside it stays counted.
    fn pop_angle(&mut self) {
        let inner = self.counts;
        if self.pop().is_some() {
            self.counts.expr = self.counts.expr.saturating_add(inner.expr);
            self.counts.stmt = self.counts.stmt.saturating_add(inner.stmt);
        }
    }

    /// Closes every `<` frame above the innermost bracket.
    fn pop_angles(&mut self) {
        while matches!(self.frames.last(), Some((Frame::Angle, _))) {
            self.pop_angle();
        }
    }

    /// Adds one unit to `expr` (or `stmt`).
    fn count(&mut self, stmt: bool) {
        if stmt {
            self.counts.stmt = self.counts.stmt.saturating_add(1);
        } else {
            self.counts.expr = self.counts.expr.saturating_add(1);
        }
    }

    /// The parser is back at a list of statements or members.
    fn boundary(&mut self) {
        self.pop_angles();
        self.counts = Counts::default();
    }
}

#[cfg(test)]
mod tests;
