//! HTMLRewriter's events and mutations across the callback: what lol_html gives a handler is
//! encoded as fields for the prelude (js/rewriter.js), and the mutations the tenant's handler asked
//! for come back as a list of fields and are applied to the token, in order.
//!
//! Events (the first field is the kind, the second the handler's index or end-tag callback id):
//! element `[1, i, tagName, namespaceURI, flags (1 self-closing, 2 can have content), then name,
//! value pairs]`; comment `[2, i, document?, text]`; text `[3, i, document?, text, last?]`;
//! doctype `[4, i, present (1 name, 2 publicId, 4 systemId), name, publicId, systemId]`; document
//! end `[5, i]`; end tag `[6, id, name]`.
//!
//! Mutations (an op code, then its arguments): 1 setAttribute(name, value), 2
//! removeAttribute(name), 3-8 before/after/prepend/append/replace/setInnerContent(content, html?),
//! 9 remove, 10 removeAndKeepContent, 11 setTagName/name(name), 12 onEndTag(id), 13 text(text),
//! 14 stop (the handler threw: the write ends, the prelude rethrows). A reply of 15 alone says the
//! handler returned a promise: the op returns, and `RewriterResume` answers the same event later.
//!
//! Guarantees: every mutation is checked against the token it targets (an op the token does not
//! have is a TypeError that ends the write); names and comment texts lol_html refuses end it too.
//!
//! Trusts: lol_html's token API.

use std::rc::Rc;

use lol_html::html_content::{
    Comment, ContentType, Doctype, DocumentEnd, Element, EndTag, TextChunk,
};
use lol_html::HandlerResult;

use super::Shared;
use crate::fields::{self, Reader};
use crate::{OpError, OpResult};

/// Why a handler stopped the rewrite: the op's error (a thrown handler, a cancelled isolate, a
/// bad mutation).
#[derive(Debug)]
pub struct Stop(pub OpError);

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.message)
    }
}

impl std::error::Error for Stop {}

fn stop(e: OpError) -> Box<dyn std::error::Error + Send + Sync> {
    Box::new(Stop(e))
}

/// Hands `event` to the op (the coroutine suspends until it answers): the mutations the
/// handler made.
fn call(sh: &Shared, event: &[&[u8]]) -> Result<Vec<u8>, Box<dyn std::error::Error + Send + Sync>> {
    sh.suspend(fields::encode(event)).map_err(stop)
}

/// One mutation, decoded.
enum Mutation<'a> {
    SetAttribute(&'a str, &'a str),
    RemoveAttribute(&'a str),
    /// 3 before, 4 after, 5 prepend, 6 append, 7 replace, 8 setInnerContent.
    Content(u32, &'a str, ContentType),
    Remove,
    RemoveAndKeepContent,
    Name(&'a str),
    OnEndTag(u32),
    Text(&'a str),
    Stop,
}

fn mutations(reply: &[u8]) -> OpResult<Vec<Mutation<'_>>> {
    let mut r = Reader::new(reply);
    let mut list = Vec::new();
    while !r.is_empty() {
        list.push(match r.u32()? {
            1 => Mutation::SetAttribute(r.str()?, r.str()?),
            2 => Mutation::RemoveAttribute(r.str()?),
            code @ 3..=8 => {
                let content = r.str()?;
                let html = r.u32()? != 0;
                let kind = if html {
                    ContentType::Html
                } else {
                    ContentType::Text
                };
                Mutation::Content(code, content, kind)
            }
            9 => Mutation::Remove,
            10 => Mutation::RemoveAndKeepContent,
            11 => Mutation::Name(r.str()?),
            12 => Mutation::OnEndTag(r.u32()?),
            13 => Mutation::Text(r.str()?),
            14 => Mutation::Stop,
            other => return Err(OpError::type_error(format!("unknown mutation {other}"))),
        });
    }
    Ok(list)
}

fn refused(what: &str) -> Box<dyn std::error::Error + Send + Sync> {
    stop(OpError::type_error(format!("HTMLRewriter: {what}")))
}

fn handler_threw() -> Box<dyn std::error::Error + Send + Sync> {
    stop(OpError::operation("HTMLRewriter: a handler threw"))
}

pub(crate) fn element(sh: &Rc<Shared>, index: u32, el: &mut Element<'_, '_>) -> HandlerResult {
    let tag = el.tag_name();
    let flags = u32::from(el.is_self_closing()) | (u32::from(el.can_have_content()) << 1);
    let attrs: Vec<(String, String)> = el
        .attributes()
        .iter()
        .map(|a| (a.name(), a.value()))
        .collect();
    let (kind, idx, fl) = (1u32.to_le_bytes(), index.to_le_bytes(), flags.to_le_bytes());
    let mut event: Vec<&[u8]> = vec![
        &kind,
        &idx,
        tag.as_bytes(),
        el.namespace_uri().as_bytes(),
        &fl,
    ];
    for (n, v) in &attrs {
        event.push(n.as_bytes());
        event.push(v.as_bytes());
    }
    let reply = call(sh, &event)?;
    for m in mutations(&reply).map_err(stop)? {
        match m {
            Mutation::SetAttribute(n, v) => el
                .set_attribute(n, v)
                .map_err(|e| refused(&format!("setAttribute(\"{n}\"): {e}")))?,
            Mutation::RemoveAttribute(n) => el.remove_attribute(n),
            Mutation::Content(3, c, t) => el.before(c, t),
            Mutation::Content(4, c, t) => el.after(c, t),
            Mutation::Content(5, c, t) => el.prepend(c, t),
            Mutation::Content(6, c, t) => el.append(c, t),
            Mutation::Content(7, c, t) => el.replace(c, t),
            Mutation::Content(_, c, t) => el.set_inner_content(c, t),
            Mutation::Remove => el.remove(),
            Mutation::RemoveAndKeepContent => el.remove_and_keep_content(),
            Mutation::Name(n) => el
                .set_tag_name(n)
                .map_err(|e| refused(&format!("tagName = \"{n}\": {e}")))?,
            Mutation::OnEndTag(id) => {
                let sh2 = sh.clone();
                el.on_end_tag(Box::new(move |end: &mut EndTag<'_>| end_tag(&sh2, id, end)))
                    .map_err(|e| refused(&format!("onEndTag: {e}")))?;
            }
            Mutation::Stop => return Err(handler_threw()),
            Mutation::Text(_) => return Err(refused("an element has no text")),
        }
    }
    Ok(())
}

fn end_tag(sh: &Shared, id: u32, end: &mut EndTag<'_>) -> HandlerResult {
    let name = end.name();
    let reply = call(
        sh,
        &[&6u32.to_le_bytes(), &id.to_le_bytes(), name.as_bytes()],
    )?;
    for m in mutations(&reply).map_err(stop)? {
        match m {
            Mutation::Content(3, c, t) => end.before(c, t),
            Mutation::Content(4, c, t) => end.after(c, t),
            Mutation::Content(7, c, t) => end.replace(c, t),
            Mutation::Remove => end.remove(),
            Mutation::Name(n) => end.set_name_str(n.to_string()),
            Mutation::Stop => return Err(handler_threw()),
            _ => return Err(refused("an end tag has no such method")),
        }
    }
    Ok(())
}

pub(crate) fn comment(sh: &Shared, index: u32, doc: bool, c: &mut Comment<'_>) -> HandlerResult {
    let text = c.text();
    let reply = call(
        sh,
        &[
            &2u32.to_le_bytes(),
            &index.to_le_bytes(),
            &u32::from(doc).to_le_bytes(),
            text.as_bytes(),
        ],
    )?;
    for m in mutations(&reply).map_err(stop)? {
        match m {
            Mutation::Content(3, s, t) => c.before(s, t),
            Mutation::Content(4, s, t) => c.after(s, t),
            Mutation::Content(7, s, t) => c.replace(s, t),
            Mutation::Remove => c.remove(),
            Mutation::Text(s) => c
                .set_text(s)
                .map_err(|e| refused(&format!("comment.text: {e}")))?,
            Mutation::Stop => return Err(handler_threw()),
            _ => return Err(refused("a comment has no such method")),
        }
    }
    Ok(())
}

pub(crate) fn text(sh: &Shared, index: u32, doc: bool, t: &mut TextChunk<'_>) -> HandlerResult {
    let last = u32::from(t.last_in_text_node());
    let reply = call(
        sh,
        &[
            &3u32.to_le_bytes(),
            &index.to_le_bytes(),
            &u32::from(doc).to_le_bytes(),
            t.as_str().as_bytes(),
            &last.to_le_bytes(),
        ],
    )?;
    for m in mutations(&reply).map_err(stop)? {
        match m {
            Mutation::Content(3, s, k) => t.before(s, k),
            Mutation::Content(4, s, k) => t.after(s, k),
            Mutation::Content(7, s, k) => t.replace(s, k),
            Mutation::Remove => t.remove(),
            Mutation::Stop => return Err(handler_threw()),
            _ => return Err(refused("a text chunk has no such method")),
        }
    }
    Ok(())
}

pub(crate) fn doctype(sh: &Shared, index: u32, d: &mut Doctype<'_>) -> HandlerResult {
    let (name, public, system) = (d.name(), d.public_id(), d.system_id());
    let present = u32::from(name.is_some())
        | (u32::from(public.is_some()) << 1)
        | (u32::from(system.is_some()) << 2);
    let reply = call(
        sh,
        &[
            &4u32.to_le_bytes(),
            &index.to_le_bytes(),
            &present.to_le_bytes(),
            name.as_deref().unwrap_or("").as_bytes(),
            public.as_deref().unwrap_or("").as_bytes(),
            system.as_deref().unwrap_or("").as_bytes(),
        ],
    )?;
    for m in mutations(&reply).map_err(stop)? {
        match m {
            Mutation::Remove => d.remove(),
            Mutation::Stop => return Err(handler_threw()),
            _ => return Err(refused("a doctype has no such method")),
        }
    }
    Ok(())
}

pub(crate) fn end(sh: &Shared, index: u32, e: &mut DocumentEnd<'_>) -> HandlerResult {
    let reply = call(sh, &[&5u32.to_le_bytes(), &index.to_le_bytes()])?;
    for m in mutations(&reply).map_err(stop)? {
        match m {
            Mutation::Content(6, s, k) => e.append(s, k),
            Mutation::Stop => return Err(handler_threw()),
            _ => return Err(refused("the document end has no such method")),
        }
    }
    Ok(())
}
