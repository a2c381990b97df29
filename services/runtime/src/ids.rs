//! Format validation of Norwegian identifiers shared by several services:
//! national ids (fødselsnummer, D-number, synthetic test numbers), organisation
//! numbers and municipality numbers. Pure functions, no I/O, and error texts
//! that never echo the value back (it may be a national id).

use chrono::NaiveDate;

/// What kind of national id a valid number is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NationalIdKind {
    /// Fødselsnummer.
    BirthNumber,
    /// D-nummer: the day is increased by 40.
    DNumber,
}

/// A validated national id. Deliberately not `Display`/`Debug` of the digits,
/// so it cannot end up in a log line by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct NationalId {
    digits: String,
    pub kind: NationalIdKind,
    /// Synthetic test number (month + 40 as used by NAV, or + 80 as in
    /// Skatteetaten's Tenor test data).
    pub synthetic: bool,
    pub birth_date: NaiveDate,
}

impl std::fmt::Debug for NationalId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NationalId")
            .field("kind", &self.kind)
            .field("synthetic", &self.synthetic)
            .finish_non_exhaustive()
    }
}

impl NationalId {
    /// The 11 digits. Callers store or compare it; never log it.
    pub fn expose(&self) -> &str {
        &self.digits
    }

    /// Age in whole years on `on`.
    pub fn age_on(&self, on: NaiveDate) -> u32 {
        on.years_since(self.birth_date).unwrap_or(0)
    }
}

const K1: [u32; 9] = [3, 7, 6, 1, 8, 9, 4, 5, 2];
const K2: [u32; 10] = [5, 4, 3, 2, 7, 6, 5, 4, 3, 2];
const ORG: [u32; 8] = [3, 2, 7, 6, 5, 4, 3, 2];

/// Mod-11 check digit, or `None` when the weighted sum gives 10 (no valid number).
fn mod11(digits: &[u32], weights: &[u32]) -> Option<u32> {
    let sum: u32 = digits.iter().zip(weights).map(|(d, w)| d * w).sum();
    match 11 - sum % 11 {
        11 => Some(0),
        10 => None,
        k => Some(k),
    }
}

fn digits_of(value: &str, len: usize) -> Result<Vec<u32>, String> {
    if value.len() != len || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("must be exactly {len} digits"));
    }
    Ok(value.bytes().map(|b| u32::from(b - b'0')).collect())
}

/// Validates a fødselsnummer or D-number: both mod-11 check digits and a real
/// birth date (century from the individual number), accepting synthetic test
/// numbers.
pub fn parse_national_id(value: &str) -> Result<NationalId, String> {
    let d = digits_of(value, 11)?;
    if mod11(&d[..9], &K1) != Some(d[9]) || mod11(&d[..10], &K2) != Some(d[10]) {
        return Err("check digits do not match (mod 11)".into());
    }
    let mut day = d[0] * 10 + d[1];
    let mut month = d[2] * 10 + d[3];
    let year2 = d[4] * 10 + d[5];
    let individual = d[6] * 100 + d[7] * 10 + d[8];

    let kind = if day > 40 {
        day -= 40;
        NationalIdKind::DNumber
    } else {
        NationalIdKind::BirthNumber
    };
    let synthetic = match month {
        81..=92 => {
            month -= 80;
            true
        }
        41..=52 => {
            month -= 40;
            true
        }
        _ => false,
    };
    let century = match (individual, year2) {
        (0..=499, _) => 1900,
        (500..=749, 54..=99) => 1800,
        (500..=999, 0..=39) => 2000,
        (900..=999, 40..=99) => 1900,
        _ => return Err("individual number does not fit the birth year".into()),
    };
    let birth_date = NaiveDate::from_ymd_opt((century + year2) as i32, month, day)
        .ok_or_else(|| "does not contain a valid birth date".to_string())?;
    Ok(NationalId {
        digits: value.to_string(),
        kind,
        synthetic,
        birth_date,
    })
}

/// Validates a 9-digit organisation number (mod-11 check digit).
pub fn validate_organization_number(value: &str) -> Result<(), String> {
    let d = digits_of(value, 9)?;
    if mod11(&d[..8], &ORG) != Some(d[8]) {
        return Err("check digit does not match (mod 11)".into());
    }
    Ok(())
}

/// Validates a 4-digit municipality number (kommunenummer).
pub fn validate_municipality_number(value: &str) -> Result<(), String> {
    digits_of(value, 4)?;
    if value.starts_with("00") {
        return Err("is not a municipality number".into());
    }
    Ok(())
}

/// Builds a valid national id from a birth date and an individual number; for
/// tests, examples and seed data. Returns `None` when no check digit exists for
/// that individual number (try the next one).
pub fn make_national_id(
    birth_date: NaiveDate,
    individual: u32,
    d_number: bool,
    synthetic: bool,
) -> Option<String> {
    use chrono::Datelike;
    let day = birth_date.day() + if d_number { 40 } else { 0 };
    let month = birth_date.month() + if synthetic { 80 } else { 0 };
    let year2 = (birth_date.year() % 100) as u32;
    let head = format!("{day:02}{month:02}{year2:02}{individual:03}");
    let mut d: Vec<u32> = head.bytes().map(|b| u32::from(b - b'0')).collect();
    d.push(mod11(&d, &K1)?);
    d.push(mod11(&d, &K2)?);
    Some(d.iter().map(|x| char::from(b'0' + *x as u8)).collect())
}

/// The first valid national id for a birth date, searching individual numbers
/// in the range that encodes the birth year's century.
pub fn first_national_id(birth_date: NaiveDate, d_number: bool, synthetic: bool) -> String {
    use chrono::Datelike;
    let range = if birth_date.year() >= 2000 {
        500..1000
    } else {
        0..500
    };
    range
        .filter_map(|i| make_national_id(birth_date, i, d_number, synthetic))
        .next()
        .expect("some individual number has valid check digits")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn known_valid_numbers() {
        // Published example numbers with correct check digits.
        let fnr = parse_national_id("01010750160").unwrap();
        assert_eq!(fnr.kind, NationalIdKind::BirthNumber);
        assert!(!fnr.synthetic);
        assert_eq!(fnr.birth_date, date(2007, 1, 1));
    }

    #[test]
    fn generated_numbers_round_trip_for_every_kind() {
        for (d_number, synthetic) in [(false, false), (true, false), (false, true), (true, true)] {
            for bd in [date(2015, 2, 28), date(1985, 12, 31), date(2024, 2, 29)] {
                let id = first_national_id(bd, d_number, synthetic);
                let parsed = parse_national_id(&id).unwrap();
                assert_eq!(parsed.birth_date, bd, "{id}");
                assert_eq!(parsed.synthetic, synthetic);
                assert_eq!(parsed.kind == NationalIdKind::DNumber, d_number);
            }
        }
    }

    #[test]
    fn rejects_bad_check_digits_length_and_dates() {
        let good = first_national_id(date(2015, 5, 17), false, false);
        let mut bad = good.clone().into_bytes();
        bad[10] = if bad[10] == b'9' { b'0' } else { bad[10] + 1 };
        assert!(parse_national_id(std::str::from_utf8(&bad).unwrap()).is_err());
        assert!(parse_national_id("1234").is_err());
        assert!(parse_national_id("0101075016a").is_err());
        // 31 February with otherwise valid check digits.
        let feb31 = (0..1000)
            .filter_map(|i| {
                let head = format!("310215{i:03}");
                let mut d: Vec<u32> = head.bytes().map(|b| u32::from(b - b'0')).collect();
                d.push(mod11(&d, &K1)?);
                d.push(mod11(&d, &K2)?);
                Some(
                    d.iter()
                        .map(|x| char::from(b'0' + *x as u8))
                        .collect::<String>(),
                )
            })
            .next()
            .unwrap();
        assert!(parse_national_id(&feb31).is_err());
    }

    #[test]
    fn debug_never_shows_digits() {
        let id = parse_national_id("01010750160").unwrap();
        assert!(!format!("{id:?}").contains("0101"));
    }

    #[test]
    fn organisation_numbers() {
        assert!(validate_organization_number("974760673").is_ok()); // Brønnøysundregistrene
        assert!(validate_organization_number("974760674").is_err());
        assert!(validate_organization_number("97476067").is_err());
    }

    #[test]
    fn municipality_numbers() {
        assert!(validate_municipality_number("4201").is_ok());
        assert!(validate_municipality_number("0301").is_ok());
        assert!(validate_municipality_number("0001").is_err());
        assert!(validate_municipality_number("42011").is_err());
    }

    #[test]
    fn age() {
        let id = parse_national_id(&first_national_id(date(2010, 6, 15), false, false)).unwrap();
        assert_eq!(id.age_on(date(2025, 6, 14)), 14);
        assert_eq!(id.age_on(date(2025, 6, 15)), 15);
    }
}
