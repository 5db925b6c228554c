package wire

import "strings"

// Message types (the "t" field) hbd sends or acts on, spelled as Heartbeat
// 3.0.6 spells them (spec/wire.md §5, §6). They are untyped so that a type
// read from the wire compares with them directly.
const (
	// Membership and transport.
	MsgStatus    = "status"        // the heartbeat itself
	MsgRexmit    = "NS_rexmit"     // please resend firstseq..lastseq
	MsgNakRexmit = "NS_nak_rexmit" // cannot resend firstseq: gone from history
	MsgAck       = "NS_ackmsg"     // flow-control acknowledgement of ackseq
	MsgReqNodes  = "reqnodes"      // a starting node asks for the node list
	MsgRepNodes  = "repnodes"      // the answer to reqnodes

	// Resource ownership (spec/wire.md §6).
	MsgStarting      = "starting"        // the sender's resource manager starts
	MsgResource      = "resource"        // what the sender holds (rsc_hold)
	MsgAskResources  = "ask_resources"   // the standby protocol (info me|other|done)
	MsgTakeover      = "hb_takeover"     // please stand by in my favour
	MsgIPRequest     = "ip-request"      // legacy mode: please release group ipaddr
	MsgIPRequestResp = "ip-request-resp" // legacy mode: released; dest may take it
	MsgShutdone      = "shutdone"        // the sender released everything and leaves
	MsgStonith       = "stonith"         // the STONITH result for a dead node
)

// unsequencedPrefix starts the types Heartbeat sends without a sequence
// number.
const unsequencedPrefix = "NS_"

// Unsequenced reports whether messages of type t carry no seq: they are not
// part of the sender's sequence and never retransmitted.
func Unsequenced(t string) bool { return strings.HasPrefix(t, unsequencedPrefix) }

// Field names.
const (
	FieldType        = "t"
	FieldSrc         = "src"      // the sender's node name
	FieldSrcUUID     = "srcuuid"  // binary, 16 bytes
	FieldDest        = "dest"     // the one node a message is for
	FieldDestUUID    = "destuuid" // binary, 16 bytes
	FieldSeq         = "seq"      // hex
	FieldGeneration  = "hg"       // the sender's generation, hex
	FieldTime        = "ts"       // the sender's clock, hex seconds
	FieldLoad        = "ld"       // the sender's /proc/loadavg
	FieldTTL         = "ttl"
	FieldStatus      = "st"       // init, up, active, dead
	FieldDeadtime    = "dt"       // the sender's deadtime, hex ms
	FieldProtocol    = "protocol" // present: the sender answers reqnodes
	FieldFirstSeq    = "firstseq"
	FieldLastSeq     = "lastseq"
	FieldAckSeq      = "ackseq"
	FieldNodeList    = "nodelist"
	FieldDelNodeList = "delnodelist"
	FieldInfo        = "info"     // free text, or the standby phase
	FieldRscHold     = "rsc_hold" // none, local, foreign, all
	FieldRType       = "rtype"
	FieldIsStable    = "isstable"
	FieldIPAddr      = "ipaddr" // ip-request: the group key
	FieldWeOwn       = "weown"
	FieldOK          = "ok"
	FieldNode        = "node"   // stonith: the node concerned
	FieldResult      = "result" // stonith: unneeded, n_stnth, ...
	// FieldPingNodes is an lvsha extension of status: how many ping nodes
	// the sender reaches (the built-in ipfail compares it). Heartbeat
	// ignores it.
	FieldPingNodes = "lvsha_ping"
)

// Field values that recur.
const (
	RTypeFull = "full" // rtype: rsc_hold is everything the sender holds
	Stable    = "1"    // isstable
	Unstable  = "0"

	// ask_resources info: the three phases of a standby (spec/wire.md §6.4).
	AskMe    = "me"    // the requester wants to give up rsc_hold
	AskOther = "other" // the peer agrees and waits for the release
	AskDone  = "done"  // the sender has finished its part
)
