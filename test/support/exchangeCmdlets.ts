/** The Exchange cmdlets the product runs, for tests that check the calls: the four basic actions first. */
export const READ_CMDLETS = [
  'Get-Mailbox',
  'Get-Recipient',
  'Get-MailboxPermission',
  'Get-RecipientPermission',
];
export const CHANGE_CMDLETS = [
  'Set-Mailbox',
  'Add-MailboxPermission',
  'Add-RecipientPermission',
  'Remove-DistributionGroupMember',
];
/** Every cmdlet a run may call, connecting aside. */
export const RUN_CMDLETS = [...READ_CMDLETS, ...CHANGE_CMDLETS];
/** The offboarding catalogue's cmdlets (profiles and EXO_ACTIONS can name them). */
export const CATALOGUE_CMDLETS = [
  'Get-MailboxStatistics',
  'Get-MailboxAutoReplyConfiguration',
  'Set-MailboxAutoReplyConfiguration',
  'Get-CASMailbox',
  'Set-CASMailbox',
  'Get-MobileDevice',
  'Remove-MobileDevice',
  'Get-InboxRule',
  'Disable-InboxRule',
  'Remove-CalendarEvents',
];
/** The cmdlets only undo (and the expiry of delegation) calls. */
export const UNDO_CMDLETS = [
  'Remove-MailboxPermission',
  'Remove-RecipientPermission',
  'Add-DistributionGroupMember',
  'Enable-InboxRule',
];
