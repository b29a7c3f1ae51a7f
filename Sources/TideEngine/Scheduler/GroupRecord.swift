// GroupRecord.swift: the members of one parallel/race/any/batch call and their completions.
import DequeModule

/// A group of tasks spawned by one task. The owner collects completions with `wait`.
struct GroupRecord {
    var active = false
    var owner: Int32 = -1
    /// The node recording this group (for hidden groups, the owner's node at open).
    var node: Int32 = 0
    /// Hidden groups (`timeout`, step attempts) record no node and no branches.
    var hidden = false
    /// Groups with few members report each branch live; larger ones report progress only.
    var reportsBranches = false
    /// Members as generation << 32 | slot, so a reused slot is never mistaken for a member.
    var members: [Int64] = []
    /// Finished members whose results were not yet delivered.
    var completed: Deque<Int32> = []
    /// Members spawned and not yet delivered or cancelled.
    var live = 0
    var ownerWaiting = false
    /// The owner's deadline timer for waits on this group (reused by every wait with the same
    /// deadline, so a large batch with a timeout keeps one heap entry, not one per completion).
    var deadline: UInt64 = 0
    var deadlineToken: UInt64 = 0
    /// The branch node of the member delivered last (0: none), for `group_failure`.
    var lastDeliveredNode: Int32 = 0
}
