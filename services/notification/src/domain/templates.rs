//! E-mail templates per kind in bokmål and nynorsk. They see only the
//! whitelisted variables (link, municipality, kind); anything else is an
//! error (strict undefined), and rendering is bounded by fuel, so a template
//! can neither leak case content nor run away.

use minijinja::{Environment, UndefinedBehavior, context};

use super::kinds::Kind;

/// The variables a template may use.
pub const VARIABLES: [&str; 3] = ["link", "municipality", "kind"];

/// Instructions one rendering may spend.
const FUEL: u64 = 20_000;

/// The headline of each kind: what awaits, never what it is about.
fn headline(kind: Kind, language: &str) -> &'static str {
    let nn = language == "nn";
    match kind {
        Kind::HandoverOffered if nn => "Du har fått tilbod om stafettpinnen i ein stafettlogg",
        Kind::HandoverOffered => "Du har fått tilbud om stafettpinnen i en stafettlogg",
        Kind::HandoverDecided if nn => "Eit tilbod du gav om stafettpinnen er svart på",
        Kind::HandoverDecided => "Et tilbud du ga om stafettpinnen er besvart",
        Kind::TransferToUnit if nn => "Ein stafettlogg er på veg til eininga di",
        Kind::TransferToUnit => "En stafettlogg er på vei til enheten din",
        Kind::MeasureResponsible if nn => "Du er ansvarleg for eit tiltak",
        Kind::MeasureResponsible => "Du er ansvarlig for et tiltak",
        Kind::MeetingInvited if nn => "Du er invitert til eit møte",
        Kind::MeetingInvited => "Du er invitert til et møte",
        Kind::MeetingChanged if nn => "Eit møte du er invitert til er endra",
        Kind::MeetingChanged => "Et møte du er invitert til er endret",
        Kind::MeetingCancelled if nn => "Eit møte du var invitert til er avlyst",
        Kind::MeetingCancelled => "Et møte du var invitert til er avlyst",
        Kind::DeadlineReminder if nn => "Ein frist nærmar seg",
        Kind::DeadlineReminder => "En frist nærmer seg",
        Kind::DeadlineOverdue if nn => "Ein frist er passert",
        Kind::DeadlineOverdue => "En frist er passert",
        Kind::DeadlineEscalated if nn => "Ein passert frist er sendt vidare til deg",
        Kind::DeadlineEscalated => "En passert frist er sendt videre til deg",
        Kind::ReferralAttached if nn => "Ei tilvising er lagd til ein stafettlogg",
        Kind::ReferralAttached => "En henvisning er lagt til en stafettlogg",
        Kind::ReferralAssigned if nn => "Ei tilvising er send til eininga di",
        Kind::ReferralAssigned => "En henvisning er sendt til enheten din",
        Kind::ConsentChanged if nn => "Eit samtykke er endra",
        Kind::ConsentChanged => "Et samtykke er endret",
        Kind::ConsentWithdrawn if nn => "Eit samtykke er trekt tilbake",
        Kind::ConsentWithdrawn => "Et samtykke er trukket tilbake",
        Kind::LogClosed if nn => "Ein stafettlogg er avslutta",
        Kind::LogClosed => "En stafettlogg er avsluttet",
        Kind::EntryAdded if nn => "Det er ei ny oppføring i ein stafettlogg",
        Kind::EntryAdded => "Det er en ny oppføring i en stafettlogg",
    }
}

fn body(kind: Kind, language: &str) -> String {
    let h = headline(kind, language);
    if language == "nn" {
        format!(
            "Hei,\n\n{h}. Logg inn for å sjå kva som ventar på deg:\n\n{{{{ link }}}}\n\n\
             Denne meldinga er send frå {{{{ municipality }}}} og inneheld ingen opplysningar \
             om saka. Ikkje svar på denne e-posten.\n"
        )
    } else {
        format!(
            "Hei,\n\n{h}. Logg inn for å se hva som venter på deg:\n\n{{{{ link }}}}\n\n\
             Denne meldingen er sendt fra {{{{ municipality }}}} og inneholder ingen opplysninger \
             om saken. Ikke svar på denne e-posten.\n"
        )
    }
}

const DIGEST_NB: &str = "Hei,\n\nDet venter {{ count }} nye varsler på deg. Logg inn for å se dem:\n\n\
{% for link in links %}{{ link }}\n{% endfor %}\nDenne meldingen er sendt fra {{ municipality }} og inneholder \
ingen opplysninger om sakene. Ikke svar på denne e-posten.\n";
const DIGEST_NN: &str = "Hei,\n\nDet ventar {{ count }} nye varsel på deg. Logg inn for å sjå dei:\n\n\
{% for link in links %}{{ link }}\n{% endfor %}\nDenne meldinga er send frå {{ municipality }} og inneheld \
ingen opplysningar om sakene. Ikkje svar på denne e-posten.\n";

/// A rendered message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub body: String,
}

/// The built-in templates, compiled once.
pub struct Templates {
    env: Environment<'static>,
}

fn key(kind: Kind, language: &str, part: &str) -> String {
    format!("{language}/{}/{part}", kind.as_str())
}

impl Default for Templates {
    fn default() -> Self {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_fuel(Some(FUEL));
        for lang in super::records::LANGUAGES {
            for kind in Kind::ALL {
                let subject = format!("{{{{ municipality }}}}: {}", headline(kind, lang));
                env.add_template_owned(key(kind, lang, "subject"), subject)
                    .expect("built-in subject compiles");
                env.add_template_owned(key(kind, lang, "body"), body(kind, lang))
                    .expect("built-in body compiles");
            }
            let (subject, body) = match lang {
                "nn" => ("{{ municipality }}: {{ count }} nye varsel", DIGEST_NN),
                _ => ("{{ municipality }}: {{ count }} nye varsler", DIGEST_NB),
            };
            env.add_template_owned(format!("{lang}/digest/subject"), subject)
                .expect("built-in digest subject compiles");
            env.add_template_owned(format!("{lang}/digest/body"), body)
                .expect("built-in digest body compiles");
        }
        Templates { env }
    }
}

impl Templates {
    /// Renders `kind` in `language` (bokmål unless `nn`) with only the
    /// whitelisted variables.
    pub fn render(
        &self,
        kind: Kind,
        language: &str,
        link: &str,
        municipality: &str,
    ) -> Result<Rendered, minijinja::Error> {
        let lang = if language == "nn" { "nn" } else { "nb" };
        let ctx = context! { link => link, municipality => municipality, kind => kind.as_str() };
        let subject = self
            .env
            .get_template(&key(kind, lang, "subject"))?
            .render(&ctx)?;
        let body = self
            .env
            .get_template(&key(kind, lang, "body"))?
            .render(&ctx)?;
        // A header must be one line whatever a variable held.
        let subject = subject.replace(['\r', '\n'], " ");
        Ok(Rendered { subject, body })
    }
}

impl Templates {
    /// The daily digest: how many, and a link to each (its whitelist is
    /// `links`, `count` and `municipality`).
    pub fn render_digest(
        &self,
        language: &str,
        links: &[String],
        municipality: &str,
    ) -> Result<Rendered, minijinja::Error> {
        let lang = if language == "nn" { "nn" } else { "nb" };
        let ctx = context! { links => links, count => links.len(), municipality => municipality };
        let subject = self
            .env
            .get_template(&format!("{lang}/digest/subject"))?
            .render(&ctx)?
            .replace(['\r', '\n'], " ");
        let body = self
            .env
            .get_template(&format!("{lang}/digest/body"))?
            .render(&ctx)?;
        Ok(Rendered { subject, body })
    }
}

/// The built-in (subject, body) sources of `kind` in `language`.
pub fn builtin(kind: Kind, language: &str) -> (String, String) {
    let lang = if language == "nn" { "nn" } else { "nb" };
    (
        format!("{{{{ municipality }}}}: {}", headline(kind, lang)),
        body(kind, lang),
    )
}

/// `handover-offered-nn` ↔ (HandoverOffered, "nn").
pub fn template_id(kind: Kind, language: &str) -> String {
    format!("{}-{language}", kind.as_str().replace(['.', '_'], "-"))
}

pub fn parse_template_id(id: &str) -> Option<(Kind, &'static str)> {
    let (kind, lang) = id.rsplit_once('-')?;
    let lang = super::records::LANGUAGES.into_iter().find(|l| *l == lang)?;
    let kind = Kind::ALL
        .into_iter()
        .find(|k| k.as_str().replace(['.', '_'], "-") == kind)?;
    Some((kind, lang))
}

fn bounded() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_fuel(Some(FUEL));
    env
}

/// Renders a municipality's own template with the whitelisted variables.
pub fn render_custom(
    subject: &str,
    body: &str,
    kind: Kind,
    link: &str,
    municipality: &str,
) -> Result<Rendered, minijinja::Error> {
    let env = bounded();
    let ctx = context! { link => link, municipality => municipality, kind => kind.as_str() };
    Ok(Rendered {
        subject: env.render_str(subject, &ctx)?.replace(['\r', '\n'], " "),
        body: env.render_str(body, &ctx)?,
    })
}

/// Checks a municipality's own template source: it compiles, uses only the
/// whitelisted variables and renders within the fuel.
pub fn check_source(source: &str) -> Result<(), String> {
    let mut env = bounded();
    env.add_template("t", source).map_err(|e| e.to_string())?;
    let t = env.get_template("t").map_err(|e| e.to_string())?;
    let ctx = context! { link => "https://x.invalid/", municipality => "M", kind => "k" };
    t.render(ctx).map(drop).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_renders_in_both_languages_with_the_link() {
        let t = Templates::default();
        for kind in Kind::ALL {
            for lang in ["nb", "nn", "en"] {
                let r = t
                    .render(kind, lang, "https://bti.example/x", "Risør")
                    .unwrap();
                assert!(r.body.contains("https://bti.example/x"), "{kind:?} {lang}");
                assert!(r.subject.starts_with("Risør: "));
                assert!(!r.subject.contains('\n'));
            }
        }
        let nn = t.render(Kind::MeetingInvited, "nn", "l", "M").unwrap();
        assert!(nn.body.contains("sjå"));
    }

    #[test]
    fn template_ids_round_trip_and_custom_ones_render() {
        for kind in Kind::ALL {
            for lang in ["nb", "nn"] {
                assert_eq!(
                    parse_template_id(&template_id(kind, lang)),
                    Some((kind, lang))
                );
            }
        }
        assert_eq!(
            template_id(Kind::TransferToUnit, "nn"),
            "transfer-to-unit-nn"
        );
        assert_eq!(parse_template_id("handover-offered-en"), None);
        let r = render_custom(
            "{{ municipality }}",
            "Sjå {{ link }}",
            Kind::EntryAdded,
            "L",
            "M",
        )
        .unwrap();
        assert_eq!((r.subject.as_str(), r.body.as_str()), ("M", "Sjå L"));
        assert!(render_custom("{{ name }}", "", Kind::EntryAdded, "L", "M").is_err());
    }

    #[test]
    fn a_digest_lists_every_link() {
        let t = Templates::default();
        let links = vec!["https://b/1".to_string(), "https://b/2".to_string()];
        let r = t.render_digest("nn", &links, "Risør").unwrap();
        assert_eq!(r.subject, "Risør: 2 nye varsel");
        assert!(r.body.contains("https://b/1\nhttps://b/2\n"), "{}", r.body);
        assert!(
            t.render_digest("nb", &links, "M")
                .unwrap()
                .subject
                .ends_with("2 nye varsler")
        );
    }

    #[test]
    fn templates_see_only_whitelisted_variables_within_bounds() {
        assert!(check_source("{{ link }} {{ municipality }} {{ kind }}").is_ok());
        assert!(check_source("{{ child_name }}").is_err());
        assert!(check_source("{% for i in range(100000) %}{{ i }}{% endfor %}").is_err());
        assert!(check_source("{{ unclosed").is_err());
    }
}
