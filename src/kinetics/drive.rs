//! What drives a system in time: the field protocol, whether the system is the hold after the
//! ramp (B = B_f, dB/dt = 0), and the heat link to a bath. The full and the reduced systems
//! carry one [`Drive`] each and take it through the same builder methods ([`Driven`]).

use crate::model::protocol::Protocol;
use crate::model::HeatLink;
use std::cell::Cell;

/// The field protocol, the hold flag and the heat link of a system.
#[derive(Debug, Clone)]
pub struct Drive<'a> {
    /// The field protocol.
    pub protocol: &'a Protocol,
    /// Whether this is the hold after the ramp (B = B_f, no work) rather than the ramp.
    pub hold: bool,
    /// Heat link to a bath, if any (then the state carries the heat q that left, K).
    pub link: Option<HeatLink>,
    /// The waveform piece the integrator's current step lies in, set by the ramp stages at
    /// each corner (`None`: found from t, corners belonging to the piece ending there).
    pub piece: Cell<Option<usize>>,
}

impl<'a> Drive<'a> {
    /// The ramp of `protocol`, adiabatic.
    pub fn ramp(protocol: &'a Protocol) -> Self {
        Self {
            protocol,
            hold: false,
            link: None,
            piece: Cell::new(None),
        }
    }

    /// The heat link if it joins the sample to the bath at `t_s`: a segmented protocol opens
    /// and closes the heat switch by segment ([`Protocol::link_closed`]).
    pub fn active_link(&self, t_s: f64) -> Option<&HeatLink> {
        self.link
            .as_ref()
            .filter(|_| self.protocol.link_closed(t_s, self.hold, self.piece.get()))
    }

    /// Field (T) and dB/dt (T/s) at `t_s` ([`Protocol::field_and_rate`]).
    pub fn field_and_rate(&self, t_s: f64) -> (f64, f64) {
        self.protocol
            .field_and_rate(t_s, self.hold, self.piece.get())
    }
}

/// A system driven by a [`Drive`]: the builder methods that set its hold flag and its link.
pub trait Driven<'a>: Sized {
    /// The system's drive.
    fn drive(&self) -> &Drive<'a>;

    /// The system's drive, to set.
    fn drive_mut(&mut self) -> &mut Drive<'a>;

    /// The same system with a heat link to a bath (the state gains the heat q that left).
    fn linked(mut self, link: Option<HeatLink>) -> Self {
        self.drive_mut().link = link;
        self
    }

    /// The same system for the hold after the ramp (B = B_f, no work).
    fn holding(mut self) -> Self {
        self.drive_mut().hold = true;
        self
    }
}
