package layer2

import (
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Kernel filters: the ARP socket passes ARP requests only, the NDP socket
// IPv6 neighbour solicitations without extension headers only. Both first
// drop frames that belong to another interface or to nobody here:
//
//   - frames this host sends (PACKET_OUTGOING);
//   - frames carrying a VLAN tag out of band: with VLAN offload the NIC
//     strips the tag and the frame reaches the parent's sockets looking
//     untagged;
//   - frames the kernel received on another interface, such as a VLAN
//     sub-interface of this one, and hands to this interface's sockets as
//     well, untagged (the skb's interface is the sub-interface);
//   - frames for another host (PACKET_OTHERHOST), which include tagged
//     frames of a VLAN that has no sub-interface here: the kernel strips
//     the tag and marks them so.
//
// An answer to such a frame would go out untagged on the parent, to a
// segment the address may not belong to.

// dropFrame marks a jump to the filter's "drop" instruction; filter
// replaces it with the real offset.
const dropFrame = 0xff

// commonChecks are the checks of both filters, for the link of index ifindex.
func commonChecks(ifindex int) []bpf.Instruction {
	return []bpf.Instruction{
		bpf.LoadExtension{Num: bpf.ExtVLANTagPresent},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: 0, SkipTrue: dropFrame},
		bpf.LoadExtension{Num: bpf.ExtInterfaceIndex},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: uint32(ifindex), SkipTrue: dropFrame},
		bpf.LoadExtension{Num: bpf.ExtType},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.PACKET_OUTGOING, SkipTrue: dropFrame},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.PACKET_OTHERHOST, SkipTrue: dropFrame},
	}
}

// filter returns commonChecks then checks, each of which jumps dropFrame
// to drop the frame and falls through when it passes, then accept and drop.
func filter(ifindex int, checks ...bpf.Instruction) []bpf.Instruction {
	prog := append(commonChecks(ifindex), checks...)
	prog = append(prog, bpf.RetConstant{Val: 0xffff}, bpf.RetConstant{Val: 0})
	drop := len(prog) - 1
	for i, ins := range prog {
		if j, ok := ins.(bpf.JumpIf); ok && j.SkipTrue == dropFrame {
			j.SkipTrue = uint8(drop - i - 1)
			prog[i] = j
		}
	}
	return prog
}

// arpFilter passes ARP requests received on the link of index ifindex.
func arpFilter(ifindex int) []bpf.Instruction {
	return filter(ifindex,
		bpf.LoadAbsolute{Off: 12, Size: 2},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: unix.ETH_P_ARP, SkipTrue: dropFrame},
		bpf.LoadAbsolute{Off: 20, Size: 2},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: 1, SkipTrue: dropFrame},
	)
}

// ndpFilter passes neighbour solicitations received on the link of index
// ifindex.
func ndpFilter(ifindex int) []bpf.Instruction {
	return filter(ifindex,
		bpf.LoadAbsolute{Off: 12, Size: 2},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: etherTypeIPv6Hex, SkipTrue: dropFrame},
		bpf.LoadAbsolute{Off: 14 + 6, Size: 1},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: protocolICMPv6, SkipTrue: dropFrame},
		bpf.LoadAbsolute{Off: 14 + ipv6HeaderLen, Size: 1},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: icmpTypeNS, SkipTrue: dropFrame},
	)
}
