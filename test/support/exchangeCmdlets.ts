/** The Exchange cmdlets the product runs for the four basic actions, for tests that check the calls. */
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
